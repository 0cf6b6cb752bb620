import Diffusion
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import Server
import Testing

/// End to end with the built-in model over a real socket: small sizes and few steps.
@Suite(.serialized) struct ImageEndpointTests {
    let pipeline: DiffusionPipeline

    init() throws {
        pipeline = try #require(builtInPipeline, "the built-in model must load")
    }

    /// 40 chunks of 75 tokens (12 KB, under the byte bound) are refused by the text conditioner with
    /// 400 naming the field; the server goes on serving.
    @Test func aPromptOverTheChunkLimitIs400() async throws {
        try await withServer(generator: pipeline) { client in
            let long = String(repeating: "red ", count: 75 * 40)
            let response = try await client.postJSON("/v1/images/generations", "{\"prompt\": \"\(long)\", \"size\": \"64x64\", \"steps\": 1}")
            #expect(response.status == .badRequest && response.error?.param == "prompt", "\(response.text.prefix(300))")
            #expect(response.error?.message.contains("40 chunks") == true, "\(response.text.prefix(300))")
            let after = try await client.postJSON("/v1/images/generations", #"{"prompt": "a red circle", "size": "64x64", "steps": 1}"#)
            #expect(after.status == .ok)
        }
    }

    @Test func jsonGenerationReturnsAURLThatDownloadsThePNG() async throws {
        try await withServer(generator: pipeline) { client in
            let response = try await client.postJSON(
                "/v1/images/generations", #"{"model": "tiny-shapes", "prompt": "a red circle", "size": "64x64", "steps": 2}"#)
            #expect(response.status == .ok)
            #expect(response.headers[.accessControlAllowOrigin] == "*")
            #expect(response.headers[HTTPField.Name("user")!]?.hasPrefix("imgen-") == true)
            let body = try response.decode(ImageResponse.self)
            #expect(body.data.count == 1)
            let item = try #require(body.data.first)
            #expect(item.prompt == "a red circle" && item.seed == 42 && item.b64JSON == nil)
            let url = try #require(item.url)
            #expect(url.hasPrefix("http://test/v1/files/download/file_") && url.hasSuffix("/output.png"))

            let download = try await client.execute(uri: path(of: url), method: .get)
            #expect(download.status == .ok)
            #expect(download.headers[.contentType] == "image/png")
            let image = try PNG.decode(Array(download.body.readableBytesView))
            #expect(image.width == 64 && image.height == 64)
            // Defaults are written into the PNG's parameters: euler_a, cfg 7, seed 42.
            let text = PNG.textChunks(Array(download.body.readableBytesView))["parameters"] ?? ""
            #expect(text.contains("Seed: 42") && text.contains("CFG scale: 7"), "\(text)")

            // Without the name too, and the files API knows it.
            let id = url.split(separator: "/").dropLast().last.map(String.init) ?? ""
            #expect(try await client.execute(uri: "/v1/files/download/\(id)", method: .get).status == .ok)
            let object = try await client.execute(uri: "/v1/files/\(id)", method: .get).decode(FileObject.self)
            #expect(object.filename == "output.png" && object.bytes == download.body.readableBytes && object.object == "file")
            let list = try await client.execute(uri: "/v1/files", method: .get).decode(FileList.self)
            #expect(list.data.map(\.id).contains(id))
            let content = try await client.execute(uri: "/v1/files/\(id)/content", method: .get).decode(FileContent.self)
            #expect(Data(base64Encoded: content.content) == Data(download.body.readableBytesView))
            let deleted = try await client.execute(uri: "/v1/files/\(id)", method: .delete).decode(FileDeleted.self)
            #expect(deleted.deleted)
            #expect(try await client.execute(uri: "/v1/files/\(id)", method: .get).status == .notFound)
        }
    }

    @Test func nImagesComeBackWithConsecutiveSeedsAsBase64() async throws {
        try await withServer(generator: pipeline) { client in
            let response = try await client.postJSON(
                "/v1/images/generations",
                #"{"prompt": "a blue square", "width": 64, "height": 48, "steps": 2, "n": 3, "seed": 7, "response_format": "b64_json", "sample_method": "euler", "scheduler": "karras", "cfg_scale": 5, "negative_prompt": "red", "clip_skip": 1, "rng": "cpu", "user": "alice"}"#
            )
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.headers[HTTPField.Name("user")!] == "alice")
            let body = try response.decode(ImageResponse.self)
            #expect(body.data.map(\.seed) == [7, 8, 9])
            var pictures: [[UInt8]] = []
            for item in body.data {
                #expect(item.url == nil)
                let bytes = try #require(item.b64JSON.flatMap { Data(base64Encoded: $0) })
                let image = try PNG.decode(Array(bytes))
                #expect(image.width == 64 && image.height == 48)
                let text = PNG.textChunks(Array(bytes))["parameters"] ?? ""
                #expect(text.contains("Sampler: euler") && text.contains("Schedule type: karras") || text.contains("karras"), "\(text)")
                pictures.append(image.pixels)
            }
            #expect(pictures[0] != pictures[1], "different seeds give different pictures")
        }
    }

    @Test func sizeIsWidthByHeightAndOverridesWidthAndHeight() async throws {
        try await withServer(generator: pipeline) { client in
            let response = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": "x", "size": "64x32", "width": 128, "height": 128, "steps": 1, "response_format": "b64_json"}"#)
            let item = try #require(try response.decode(ImageResponse.self).data.first)
            let image = try PNG.decode(Array(try #require(Data(base64Encoded: item.b64JSON ?? ""))))
            #expect(image.width == 64 && image.height == 32)
        }
    }

    @Test func withoutASizeTheModelsNativeSizeIsUsed() async throws {
        try await withServer(generator: pipeline) { client in
            let response = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1, "response_format": "b64_json"}"#)
            let item = try #require(try response.decode(ImageResponse.self).data.first)
            let image = try PNG.decode(Array(try #require(Data(base64Encoded: item.b64JSON ?? ""))))
            #expect(image.width == pipeline.nativeSize && image.height == pipeline.nativeSize)
        }
    }

    @Test func multipartGenerationTakesTheSameFieldsIncludingNegativePrompt() async throws {
        try await withServer(generator: pipeline) { client in
            var form = MultipartBuilder()
            form.add("prompt", "a green triangle")
            form.add("negative_prompt", "blurry")
            form.add("size", "32x32")
            form.add("steps", "2")
            form.add("seed", "3")
            form.add("sample_method", "dpm++2m")
            form.add("response_format", "b64_json")
            let response = try await client.postForm("/v1/images/generations", form)
            #expect(response.status == .ok, "\(response.text)")
            let item = try #require(try response.decode(ImageResponse.self).data.first)
            #expect(item.prompt == "a green triangle" && item.seed == 3)
            let bytes = Array(try #require(Data(base64Encoded: item.b64JSON ?? "")))
            let text = PNG.textChunks(bytes)["parameters"] ?? ""
            #expect(text.hasPrefix("a green triangle") && text.contains("Negative prompt: blurry"), "\(text)")
        }
    }

    @Test func editsResizeTheImageAndAMaskKeepsTheUnmaskedHalf() async throws {
        try await withServer(generator: pipeline) { client in
            let source = testPNG(width: 100, height: 80) { x, _ in x < 50 ? [230, 30, 30] : [30, 30, 230] }
            func edit(mask: [UInt8]?) async throws -> RGBImage {
                var form = MultipartBuilder()
                form.addFile("image", filename: "in.png", source)
                if let mask { form.addFile("mask", filename: "mask.png", mask) }
                form.add("prompt", "a yellow circle")
                form.add("size", "64x64")
                form.add("steps", "3")
                form.add("strength", "1.0")
                form.add("response_format", "b64_json")
                let response = try await client.postForm("/v1/images/edits", form)
                #expect(response.status == .ok, "\(response.text)")
                let item = try #require(try response.decode(ImageResponse.self).data.first)
                return try PNG.decode(Array(try #require(Data(base64Encoded: item.b64JSON ?? ""))))
            }
            let plain = try await edit(mask: nil)
            #expect(plain.width == 64 && plain.height == 64)
            // Repaint the right half only: the left half must stay close to the (resized) source.
            let mask = testPNG(width: 64, height: 64) { x, _ in x < 32 ? [0, 0, 0] : [255, 255, 255] }
            let masked = try await edit(mask: mask)
            let reference = try PNG.decode(source).resized(width: 64, height: 64)
            func leftError(_ image: RGBImage) -> Double {
                var sum = 0.0
                for y in 0..<64 { for x in 4..<28 { for c in 0..<3 {
                    let i = (y * 64 + x) * 3 + c
                    sum += abs(Double(image.pixels[i]) - Double(reference.pixels[i]))
                } } }
                return sum / Double(64 * 24 * 3)
            }
            #expect(leftError(masked) < leftError(plain), "masked \(leftError(masked)) vs plain \(leftError(plain))")
            #expect(leftError(masked) < 40, "masked left half differs by \(leftError(masked)) on average")
        }
    }

    @Test func streamSendsQueuedProgressAndTheResult() async throws {
        try await withServer(generator: pipeline) { client in
            let response = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": "x", "size": "32x32", "steps": 3, "stream": true, "preview": true, "response_format": "b64_json"}"#)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream")
            let events = response.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            let names = events.compactMap { $0.split(separator: "\n").first.map { String($0.dropFirst("event: ".count)) } }
            #expect(names.first == "queued" && names.contains("started") && names.last == "completed", "\(names)")
            #expect(names.filter { $0 == "progress" }.count == 3)
            let progress = try #require(events.first { $0.hasPrefix("event: progress") })
            let json = try JSONDecoder().decode(JobProgress.self, from: Data(progress.components(separatedBy: "data: ")[1].utf8))
            #expect(json.steps == 3 && json.images == 1 && json.preview != nil && json.etaSeconds >= 0)
            let last = try #require(events.last)
            let result = try JSONDecoder().decode(ImageResponse.self, from: Data(last.components(separatedBy: "data: ")[1].utf8))
            #expect(result.data.count == 1 && result.data[0].b64JSON != nil)
        }
    }

    @Test func asynchronousJobCanBePolledToItsResult() async throws {
        try await withServer(generator: pipeline) { client in
            let accepted = try await client.postJSON("/v1/images/generations/jobs", #"{"prompt": "x", "size": "32x32", "steps": 2}"#)
            #expect(accepted.status == .accepted)
            let job = try accepted.decode(JobStatusResponse.self)
            #expect(job.pollURL == "/v1/images/jobs/\(job.id)")
            var status = job
            #expect(try await eventually {
                status = try await client.execute(uri: "/v1/images/jobs/\(job.id)", method: .get).decode(JobStatusResponse.self)
                return status.status == "completed"
            })
            #expect(status.result?.data.first?.url != nil && status.completed != nil)
            // The sd.cpp alias shows the same job.
            let alias = try await client.execute(uri: "/sdcpp/v1/jobs/\(job.id)", method: .get)
            #expect(alias.status == .ok)
            #expect(try await client.execute(uri: "/v1/images/jobs/\(job.id)/cancel", method: .post).status == .conflict)
        }
    }

    @Test func modelsHealthAndEcho() async throws {
        var configuration = testConfiguration()
        configuration.modelName = "tiny"
        try await withServer(configuration, generator: pipeline) { client in
            let models = try await client.execute(uri: "/v1/models", method: .get).decode(ModelList.self)
            #expect(models.data.map(\.id) == ["tiny"])
            let health = try await client.execute(uri: "/health", method: .get).decode(HealthStatus.self)
            #expect(health.status == "ok")
            let echo = try await client.execute(uri: "/echo", method: .post)
            #expect(echo.text == "echo test")
        }
    }
}
