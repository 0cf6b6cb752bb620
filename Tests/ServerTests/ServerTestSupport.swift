@testable import Diffusion
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import Server
import Tensor
import Testing

/// The built-in model, loaded once for every test that uses it.
let builtInPipeline: DiffusionPipeline? = try? DiffusionPipeline()

/// A fake model: answers at once with flat pictures, or blocks until its gate opens (still
/// reporting steps, so cancellation works), or fails. Counts its calls.
final class FakeGenerator: ImageGenerating, @unchecked Sendable {
    let modelName = "fake"
    let nativeSize: Int
    private let lock = NSLock()
    private var open: Bool
    private var calls = 0
    private var running = 0
    private var maxRunning = 0
    private var received: [GenerationOptions] = []
    let failure: (any Error)?

    init(nativeSize: Int = 64, gateOpen: Bool = true, failure: (any Error)? = nil) {
        self.nativeSize = nativeSize
        self.open = gateOpen
        self.failure = failure
    }

    func openGate() { lock.withLock { open = true } }
    var callCount: Int { lock.withLock { calls } }
    var runningCount: Int { lock.withLock { running } }
    var maxConcurrent: Int { lock.withLock { maxRunning } }
    /// A flat mid-grey picture of the latent's size.
    func preview(_ latent: Tensor) -> RGBImage {
        RGBImage(width: latent.shape[3], height: latent.shape[2], pixels: [UInt8](repeating: 128, count: latent.shape[2] * latent.shape[3] * 3))
    }

    /// The options of the last call, as the server mapped them.
    var lastOptions: GenerationOptions? { lock.withLock { received.last } }

    func generate(
        _ options: GenerationOptions, limits: GenerationOptions.Limits, progress: (GenerationProgress) throws -> Void
    ) throws -> [GeneratedImage] {
        try options.validate(limits: limits)
        lock.withLock {
            received.append(options)
            calls += 1
            running += 1
            maxRunning = max(maxRunning, running)
        }
        defer { lock.withLock { running -= 1 } }
        let width = options.width ?? nativeSize, height = options.height ?? nativeSize
        let latent = Tensor(shape: [1, 4, height / 8, width / 8])
        func report(_ index: Int, _ step: Int) throws {
            try progress(
                GenerationProgress(imageIndex: index, imageCount: options.count, step: step, stepCount: options.steps, sigma: 1, denoised: latent))
        }
        while !lock.withLock({ open }) {
            try report(0, 0)
            Thread.sleep(forTimeInterval: 0.005)
        }
        if let failure { throw failure }
        return try (0..<options.count).map { index in
            for step in 0..<options.steps { try report(index, step) }
            let image = RGBImage(width: width, height: height, pixels: [UInt8](repeating: UInt8(index * 40 % 256), count: width * height * 3))
            return GeneratedImage(image: image, seed: options.seed &+ UInt64(index), latent: latent, parameters: "fake")
        }
    }
}

/// A configuration for tests: a fresh temporary output folder, small limits.
func testConfiguration(_ change: (inout ServerConfiguration) -> Void = { _ in }) -> ServerConfiguration {
    var configuration = ServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.outputDirectory = NSTemporaryDirectory() + "sd-server-tests/\(UUID().uuidString)"
    configuration.downloadURLPrefix = "http://test"
    configuration.limits.maxWidth = 512
    configuration.limits.maxHeight = 512
    configuration.limits.maxSteps = 50
    configuration.limits.maxCount = 4
    // The numeric suites can starve the server's threads for longer than any sensible idle
    // timeout while a test's keep-alive client waits; tests of the timeout set their own.
    configuration.idleTimeout = nil
    change(&configuration)
    return configuration
}

/// How long a test waits for the server. Generous on purpose: `swift test` runs every target in
/// one process, and the numeric suites keep both cooperative threads busy for seconds at a time,
/// which delays the server's handlers (in a real server process nothing else runs there).
let patience: Duration = .seconds(300)

/// Runs `test` against a live server (real socket on the loopback) over `generator`.
func withServer<Value: Sendable>(
    _ configuration: ServerConfiguration = testConfiguration(), generator: any ImageGenerating,
    _ test: @escaping @Sendable (LiveClient) async throws -> Value
) async throws -> Value {
    try await withServer(configuration, models: ModelPool(single: generator, name: configuration.modelName ?? generator.modelName), test)
}

/// `withServer` over a pool of models.
func withServer<Value: Sendable>(
    _ configuration: ServerConfiguration = testConfiguration(), models: ModelPool,
    _ test: @escaping @Sendable (LiveClient) async throws -> Value
) async throws -> Value {
    let app = try buildApplication(configuration: configuration, models: models)
    defer { try? FileManager.default.removeItem(atPath: configuration.outputDirectory) }
    return try await app.test(.live) { client in
        let port = try #require(client.port)
        return try await TestClient.withClient(host: "localhost", port: port, configuration: .init(timeout: patience)) { connection in
            try await test(LiveClient(port: port, connection: connection))
        }
    }
}

/// One keep-alive connection to the server under test, with a long read timeout.
struct LiveClient: Sendable {
    let port: Int?
    let connection: TestClient

    func execute(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil) async throws -> Reply {
        let response = try await connection.execute(TestClient.Request(uri, method: method, headers: headers, body: body))
        return Reply(head: response.head, body: response.body ?? ByteBuffer())
    }

    /// POST a JSON body.
    func postJSON(_ uri: String, _ json: String, headers: HTTPFields = [:]) async throws -> Reply {
        var fields = headers
        fields[.contentType] = "application/json"
        return try await execute(uri: uri, method: .post, headers: fields, body: ByteBuffer(string: json))
    }

    /// POST a multipart body.
    func postForm(_ uri: String, _ form: MultipartBuilder, headers: HTTPFields = [:]) async throws -> Reply {
        var fields = headers
        fields[.contentType] = form.contentType
        return try await execute(uri: uri, method: .post, headers: fields, body: form.body)
    }
}

/// A response.
struct Reply: Sendable {
    let head: HTTPResponse
    let body: ByteBuffer
    var status: HTTPResponse.Status { head.status }
    var headers: HTTPFields { head.headerFields }
}

extension Reply {
    var text: String { String(buffer: body) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
    }

    /// The OpenAI error body, or nil.
    var error: ErrorResponse.Detail? { (try? decode(ErrorResponse.self))?.error }
}

/// Builds `multipart/form-data` bodies.
struct MultipartBuilder {
    let boundary = "sdtest-\(UUID().uuidString)"
    private(set) var bytes: [UInt8] = []

    mutating func add(_ name: String, _ value: String) {
        bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
    }

    mutating func addFile(_ name: String, filename: String, contentType: String = "image/png", _ data: [UInt8]) {
        bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: \(contentType)\r\n\r\n".utf8)
        bytes += data
        bytes += Array("\r\n".utf8)
    }

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }
    var body: ByteBuffer { ByteBuffer(bytes: bytes + Array("--\(boundary)--\r\n".utf8)) }
    /// The body cut off in the middle of its last part.
    var truncatedBody: ByteBuffer { ByteBuffer(bytes: Array(bytes.dropLast(5))) }
}

/// A PNG of one colour, or split into halves.
func testPNG(width: Int, height: Int, _ pixel: (Int, Int) -> [UInt8] = { _, _ in [200, 40, 40] }) -> [UInt8] {
    var pixels: [UInt8] = []
    for y in 0..<height { for x in 0..<width { pixels += pixel(x, y) } }
    return PNG.encode(RGBImage(width: width, height: height, pixels: pixels))
}

/// The path of an absolute URL ("http://test/v1/files/..." -> "/v1/files/...").
func path(of url: String) -> String {
    URL(string: url)?.path ?? url
}

/// Polls `condition` every 10 ms until it holds or `patience` runs out, without holding a thread.
func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + patience
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return false
}

/// The pixels of the first picture of a `b64_json` image answer.
func firstPicture(_ response: Reply) throws -> [UInt8] {
    let item = try #require(try response.decode(ImageResponse.self).data.first, "\(response.text)")
    return try PNG.decode(Array(try #require(Data(base64Encoded: item.b64JSON ?? "")))).pixels
}
