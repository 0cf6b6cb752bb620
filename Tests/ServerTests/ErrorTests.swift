import Diffusion
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import Server
import Testing

/// Every error is OpenAI's JSON shape with the right status, and nothing a client sends crashes
/// the server (a fake model keeps these fast).
@Suite struct ErrorTests {
    @Test(arguments: [
        (#"{"prompt": "x", "steps": "many"}"#, "steps"),
        (#"{"prompt": "x", "n": 1e30}"#, "n"),
        (#"{"prompt": "x", "width": -64}"#, "width"),
        (#"{"prompt": "x", "size": "64x-8"}"#, "height"),
        (#"{"prompt": "x", "size": "sixty"}"#, "size"),
        (#"{"prompt": "x", "size": "63x64"}"#, "width"),
        (#"{"prompt": "x", "width": 4096}"#, "width"),
        (#"{"prompt": "x", "steps": 0}"#, "steps"),
        (#"{"prompt": "x", "steps": 100000}"#, "steps"),
        (#"{"prompt": "x", "n": 0}"#, "n"),
        (#"{"prompt": "x", "n": 99}"#, "n"),
        (#"{"prompt": "x", "cfg_scale": -1}"#, "cfg_scale"),
        (#"{"prompt": "x", "seed": 99999999999999999999999}"#, "seed"),
        (#"{"prompt": "x", "sample_method": "warp_drive"}"#, "sample_method"),
        (#"{"prompt": "x", "scheduler": "sometimes"}"#, "scheduler"),
        (#"{"prompt": "x", "rng": "dice"}"#, "rng"),
        (#"{"prompt": "x", "clip_skip": 40}"#, "clip_skip"),
        (#"{"prompt": "x", "response_format": "gif"}"#, "response_format"),
        (#"{"prompt": "x", "output_format": "gif"}"#, "output_format"),
        (#"{"prompt": "x", "control_image": {"id": "file_1"}}"#, "control_image"),
        (#"{"prompt": 5}"#, "prompt"),
        (#"{"prompt": ""}"#, "prompt"),
        (#"{"model": "fake"}"#, "prompt"),
        // Prompts far longer than 32 chunks are refused before tokenizing (issue 21: a few MB of
        // text allocated gigabytes).
        ("{\"prompt\": \"\(String(repeating: "red ", count: 10_000))\"}", "prompt"),
        ("{\"prompt\": \"x\", \"negative_prompt\": \"\(String(repeating: "blue ", count: 10_000))\"}", "negative_prompt"),
    ])
    func badJSONFieldsAreNamed(body: String, field: String) async throws {
        try await withServer(generator: FakeGenerator()) { client in
            let response = try await client.postJSON("/v1/images/generations", body)
            #expect(response.status == .badRequest, "\(body): \(response.status)")
            let error = try #require(response.error, "\(response.text)")
            #expect(error.param == field, "\(body): \(error)")
            #expect(error.type == "invalid_request_error" && !error.message.isEmpty)
        }
    }

    @Test(arguments: ["", "{", "[1, 2]", "null", "\u{0}\u{1}garbage", #"{"prompt": "x""#])
    func malformedJSONIs400(body: String) async throws {
        try await withServer(generator: FakeGenerator()) { client in
            let response = try await client.postJSON("/v1/images/generations", body)
            #expect(response.status == .badRequest)
            #expect(response.error != nil, "\(response.text)")
        }
    }

    @Test func controlNetWithoutOneAndLoRAAreRefusedClearly() async throws {
        try await withServer(generator: try #require(builtInPipeline)) { client in
            var form = MultipartBuilder()
            form.add("prompt", "x")
            form.addFile("control_image", filename: "c.png", testPNG(width: 8, height: 8))
            let response = try await client.postForm("/v1/images/generations", form)
            #expect(response.status == .badRequest)
            #expect(response.error?.message.contains("no ControlNet is loaded") == true, "\(response.text)")
            #expect(response.error?.param == "control_image")
            if builtInPipeline != nil {
                let lora = try await client.postJSON("/v1/images/generations", #"{"prompt": "x <lora:style:1>", "size": "32x32", "steps": 1}"#)
                #expect(lora.status == .badRequest)
                #expect(lora.error?.message.contains("LoRA") == true, "\(lora.text)")
            }
        }
    }

    @Test func multipartProblemsAre400() async throws {
        try await withServer(generator: FakeGenerator()) { client in
            var unknown = MultipartBuilder()
            unknown.add("prompt", "x")
            unknown.add("colour", "red")
            let response = try await client.postForm("/v1/images/generations", unknown)
            #expect(response.status == .badRequest && response.error?.message == "Unsupported field: colour" && response.error?.param == "colour")

            var badNumber = MultipartBuilder()
            badNumber.add("prompt", "x")
            badNumber.add("steps", "twenty")
            #expect(try await client.postForm("/v1/images/generations", badNumber).error?.param == "steps")

            var truncated = MultipartBuilder()
            truncated.add("prompt", "a long enough prompt to cut")
            let cut = try await client.execute(
                uri: "/v1/images/generations", method: .post, headers: [.contentType: truncated.contentType], body: truncated.truncatedBody)
            #expect(cut.status == .badRequest && cut.error?.message.contains("truncated") == true, "\(cut.text)")

            for contentType in ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\""] {
                let noBoundary = try await client.execute(
                    uri: "/v1/images/generations", method: .post, headers: [.contentType: contentType], body: ByteBuffer(string: "--x--"))
                #expect(noBoundary.status == .badRequest, "\(contentType)")
            }
            let garbage = try await client.execute(
                uri: "/v1/images/generations", method: .post, headers: [.contentType: "multipart/form-data; boundary=abc"],
                body: ByteBuffer(string: "not multipart at all"))
            #expect(garbage.status == .badRequest)
        }
    }

    @Test func editsNeedAMultipartImageThatIsAPicture() async throws {
        try await withServer(generator: FakeGenerator()) { client in
            let json = try await client.postJSON("/v1/images/edits", #"{"prompt": "x"}"#)
            #expect(json.status == .badRequest && json.error?.message.contains("multipart") == true)

            var noImage = MultipartBuilder()
            noImage.add("prompt", "x")
            #expect(try await client.postForm("/v1/images/edits", noImage).error?.param == "image")

            var notAPicture = MultipartBuilder()
            notAPicture.add("prompt", "x")
            notAPicture.addFile("image", filename: "a.txt", contentType: "text/plain", Array("hello, not a picture".utf8))
            let response = try await client.postForm("/v1/images/edits", notAPicture)
            #expect(response.status == .badRequest && response.error?.param == "image", "\(response.text)")

            var brokenPNG = MultipartBuilder()
            brokenPNG.add("prompt", "x")
            brokenPNG.addFile("image", filename: "a.png", Array(testPNG(width: 16, height: 16).prefix(40)))
            #expect(try await client.postForm("/v1/images/edits", brokenPNG).error?.param == "image")

            var maskWithoutEdits = MultipartBuilder()
            maskWithoutEdits.add("prompt", "x")
            maskWithoutEdits.addFile("image", filename: "a.png", testPNG(width: 8, height: 8))
            #expect(try await client.postForm("/v1/images/generations", maskWithoutEdits).status == .badRequest)
        }
    }

    @Test func routesMethodsAndSizes() async throws {
        var configuration = testConfiguration()
        configuration.maxBodySize = 1000
        try await withServer(configuration, generator: FakeGenerator()) { client in
            let missing = try await client.execute(uri: "/v1/image/generations", method: .post)
            #expect(missing.status == .notFound && missing.error != nil)
            let wrongMethod = try await client.execute(uri: "/v1/images/generations", method: .get)
            #expect(wrongMethod.status == .methodNotAllowed && wrongMethod.error?.code == "method_not_allowed")
            #expect(try await client.execute(uri: "/v1/files", method: .post).status == .methodNotAllowed)
            let big = try await client.postJSON("/v1/images/generations", #"{"prompt": "\#(String(repeating: "a", count: 5000))"}"#)
            #expect(big.status == .contentTooLarge && big.error?.code == "request_too_large")
            let variations = try await client.execute(uri: "/v1/images/variations", method: .post)
            #expect(variations.status == .badRequest)
        }
    }

    @Test func fileIDsAndNamesCannotLeaveTheOutputFolder() async throws {
        try await withServer(generator: FakeGenerator()) { client in
            for uri in ["/v1/files/..%2F..%2Fetc", "/v1/files/file_..", "/v1/files/download/file_x/..%2Fpasswd", "/v1/files/%2Fetc%2Fpasswd/content"] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .badRequest || response.status == .notFound, "\(uri): \(response.status)")
                #expect(response.error != nil)
            }
            let unknown = try await client.execute(uri: "/v1/files/file_\(UUID().uuidString)", method: .get)
            #expect(unknown.status == .notFound)
            let generated = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#)
            let url = try #require(try generated.decode(ImageResponse.self).data.first?.url)
            let wrongName = path(of: url).replacingOccurrences(of: "output.png", with: "other.png")
            #expect(try await client.execute(uri: wrongName, method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/v1/images/jobs/job_nope", method: .get).status == .notFound)
        }
    }

    @Test func generatorFailureIs500WithoutInternals() async throws {
        struct Boom: Error {}
        try await withServer(generator: FakeGenerator(failure: Boom())) { client in
            let response = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#)
            #expect(response.status == .internalServerError)
            #expect(response.error?.type == "server_error")
            // And the server is still there.
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
        }
    }

    @Test func jpegOutputIsAJPEGOfTheRequestedSize() async throws {
        try await withServer(generator: FakeGenerator()) { client in
            let response = try await client.postJSON(
                "/v1/images/generations",
                #"{"prompt": "x", "steps": 1, "size": "40x24", "output_format": "jpeg", "response_format": "b64_json"}"#)
            #expect(response.status == .ok, "\(response.text)")
            let bytes = try #require(try response.decode(ImageResponse.self).data.first?.b64JSON.flatMap { Data(base64Encoded: $0) })
            let picture = try JPEG.decode(Array(bytes))
            #expect(picture.width == 40 && picture.height == 24)
        }
    }
}
