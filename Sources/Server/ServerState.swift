import Diffusion
import Foundation
import Hummingbird
import Logging
import NIOCore

/// What every route needs: the configuration, the queue, the file store and the model facts.
struct ServerState: Sendable {
    let configuration: ServerConfiguration
    let queue: JobQueue
    let store: FileStore
    let renderer: ImageResponseRenderer
    let modelName: String
    let nativeSize: Int
    let logger: Logger

    /// The request-to-options mapping context.
    var mappingContext: ImageRequest.Context {
        ImageRequest.Context(nativeSize: nativeSize, limits: configuration.limits, maxUploadPixels: configuration.maxUploadPixels)
    }
}

/// JSON responses with stable key order and unescaped slashes (URLs stay readable).
enum JSONResponse {
    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func bytes<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { [UInt8]($0) } ?? Array("{}".utf8)
    }
}
