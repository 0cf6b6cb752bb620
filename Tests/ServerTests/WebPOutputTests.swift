import Diffusion
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
@testable import Server
import TestSupport
import Testing

/// `"output_format": "webp"` on every route that takes `output_format`: JSON and multipart,
/// `b64_json` and `url` answers, and the files API.
@Suite struct WebPOutputTests {
    /// The decoded pictures and raw bytes of a `b64_json` answer.
    static func files(_ response: Reply) throws -> [[UInt8]] {
        try response.decode(ImageResponse.self).data.map { try #require(Data(base64Encoded: $0.b64JSON ?? "")).map { $0 } }
    }

    static func isWebP(_ bytes: [UInt8]) -> Bool {
        bytes.count > 12 && Array(bytes.prefix(4)) == Array("RIFF".utf8) && Array(bytes[8..<12]) == Array("WEBP".utf8)
    }

    /// The same seed drawn as PNG and as WebP: the default WebP (100) is lossless, so the pixels
    /// are the PNG's; quality 90 stays close; the parameters come along in EXIF.
    @Test func builtInModelDrawsLosslessAndLossyWebP() async throws {
        let pipeline = try #require(builtInPipeline, "the built-in model must load")
        try await withServer(generator: pipeline) { client in
            let request = #"{"prompt": "a red circle", "size": "64x64", "steps": 2, "seed": 5, "response_format": "b64_json""#
            let png = try await client.postJSON("/v1/images/generations", request + "}")
            let lossless = try await client.postJSON("/v1/images/generations", request + #", "output_format": "webp"}"#)
            let lossy = try await client.postJSON(
                "/v1/images/generations", request + #", "output_format": "webp", "output_compression": 90}"#)
            for response in [png, lossless, lossy] { #expect(response.status == .ok, "\(response.text.prefix(300))") }
            #expect(try lossless.decode(ImageResponse.self).outputFormat == "webp")
            #expect(try png.decode(ImageResponse.self).outputFormat == "png")
            let reference = try PNG.decode(try #require(Self.files(png).first))
            let losslessBytes = try #require(Self.files(lossless).first), lossyBytes = try #require(Self.files(lossy).first)
            #expect(Self.isWebP(losslessBytes) && Self.isWebP(lossyBytes))
            #expect(try WebP.decode(losslessBytes) == reference)
            let decoded = try WebP.decode(lossyBytes)
            // Measured 27.5 dB with Debian's libwebp 1.2.4: saturated shapes on 64x64 pixels, where
            // lossy WebP's half-resolution chroma shows most; 2 dB of room for other versions.
            #expect(decoded.width == 64 && psnr(decoded.pixels, reference.pixels) > 25.5, "PSNR \(psnr(decoded.pixels, reference.pixels))")
            let text = try #require(WebP.exifChunk(losslessBytes).flatMap(EXIF.userComment(in:)))
            #expect(text.hasPrefix("a red circle\n") && text.contains("Seed: 5"), "\(text)")
            #expect(text == PNG.textChunks(try #require(Self.files(png).first))["parameters"])
        }
    }

    /// A URL answer names a `.webp` file, served as `image/webp`; the files API agrees.
    @Test func urlAnswersServeWebPFiles() async throws {
        try await withServer(generator: FakeGenerator()) { client in
            let response = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": "x", "steps": 1, "n": 2, "size": "32x16", "output_format": "webp"}"#)
            #expect(response.status == .ok, "\(response.text)")
            let urls = try response.decode(ImageResponse.self).data.compactMap(\.url)
            #expect(urls.count == 2 && urls[0].hasSuffix("/output.webp") && urls[1].hasSuffix("/output-2.webp"), "\(urls)")
            let download = try await client.execute(uri: path(of: urls[1]), method: .get)
            #expect(download.status == .ok && download.headers[.contentType] == "image/webp")
            let bytes = Array(download.body.readableBytesView)
            #expect(Self.isWebP(bytes))
            // The fake's second picture is flat grey 40; lossless keeps it exactly.
            #expect(try WebP.decode(bytes) == RGBImage(width: 32, height: 16, pixels: [UInt8](repeating: 40, count: 32 * 16 * 3)))
            #expect(WebP.exifChunk(bytes).flatMap(EXIF.userComment(in:)) == "fake")
            let id = urls[1].split(separator: "/").dropLast().last.map(String.init) ?? ""
            let object = try await client.execute(uri: "/v1/files/\(id)", method: .get).decode(FileObject.self)
            #expect(object.filename == "output-2.webp")
        }
    }

    /// Multipart (generations and edits) takes the same fields; below 100 the bitstream is lossy VP8.
    @Test func multipartTakesWebPAndCompression() async throws {
        try await withServer(generator: FakeGenerator()) { client in
            for endpoint in ["/v1/images/generations", "/v1/images/edits"] {
                var form = MultipartBuilder()
                form.add("prompt", "x")
                form.add("steps", "1")
                form.add("size", "32x32")
                form.add("response_format", "b64_json")
                form.add("output_format", "WebP")
                form.add("output_compression", "40")
                if endpoint.hasSuffix("edits") { form.addFile("image", filename: "i.png", testPNG(width: 32, height: 32)) }
                let response = try await client.postForm(endpoint, form)
                #expect(response.status == .ok, "\(endpoint): \(response.text)")
                let bytes = try #require(try Self.files(response).first)
                #expect(Self.isWebP(bytes))
                // VP8X (for the EXIF chunk), then the lossy "VP8 " bitstream, not "VP8L".
                #expect(Array(bytes[12..<16]) == Array("VP8X".utf8) && Array(bytes[30..<34]) == Array("VP8 ".utf8), "\(endpoint)")
                #expect(try WebP.decode(bytes).width == 32)
            }
        }
    }

    @Test(arguments: [
        (#"{"prompt": "x", "output_format": "webp", "output_compression": 101}"#, "output_compression"),
        (#"{"prompt": "x", "output_format": "webp", "output_compression": -1}"#, "output_compression"),
        (#"{"prompt": "x", "output_format": "webp", "output_compression": "high"}"#, "output_compression"),
        (#"{"prompt": "x", "output_format": "webp", "output_compression": 50.5}"#, "output_compression"),
        (#"{"prompt": "x", "output_format": "gif"}"#, "output_format"),
        (#"{"prompt": "x", "output_format": 3}"#, "output_format"),
    ])
    func badValuesAre400NamingTheField(body: String, field: String) async throws {
        try await withServer(generator: FakeGenerator()) { client in
            let response = try await client.postJSON("/v1/images/generations", body)
            #expect(response.status == .badRequest, "\(body): \(response.text)")
            #expect(response.error?.param == field, "\(body): \(response.text)")
            var form = MultipartBuilder()
            form.add("prompt", "x")
            form.add("output_format", field == "output_format" ? "bmp" : "webp")
            if field == "output_compression" { form.add("output_compression", "lots") }
            let multipart = try await client.postForm("/v1/images/generations", form)
            #expect(multipart.status == .badRequest && multipart.error?.param == field, "\(multipart.text)")
        }
    }
}
