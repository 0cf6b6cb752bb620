import Diffusion
import Foundation
import HummingbirdTesting
import Samplers
@testable import Server
import Tensor
import Testing

/// What the library receives for a request: sd-api-server's defaults, and every field mapped.
@Suite struct RequestMappingTests {
    @Test func defaultsAreSDAPIServers() async throws {
        let generator = FakeGenerator(nativeSize: 48)
        try await withServer(generator: generator) { client in
            #expect(try await client.postJSON("/v1/images/generations", #"{"prompt": "x"}"#).status == .ok)
            let options = try #require(generator.lastOptions)
            #expect(options.seed == 42 && options.sampler == .eulerAncestral && options.steps == 20 && options.cfgScale == 7)
            #expect(options.count == 1 && options.negativePrompt == "" && options.schedule == nil && options.rng == .cuda)
            // No size: left to the model, which draws at its native size.
            #expect(options.width == nil && options.height == nil)
            #expect(options.strength == 0.75 && options.clipSkip == nil && options.initImage == nil)
        }
    }

    @Test func everyJSONFieldReachesTheLibrary() async throws {
        let generator = FakeGenerator()
        try await withServer(generator: generator) { client in
            let response = try await client.postJSON(
                "/v1/images/generations",
                #"{"prompt": "p", "negative_prompt": "q", "n": 2, "size": "64x32", "steps": 3, "cfg_scale": 4.5, "sample_method": "DPM++ 2M", "scheduler": "Karras", "seed": 9, "clip_skip": 2, "rng": "std_default", "eta": 0.5, "quality": "hd", "style": "vivid", "control_strength": 0.9, "style_ratio": 0.2, "strength": 0.5}"#)
            #expect(response.status == .ok, "\(response.text)")
            let options = try #require(generator.lastOptions)
            #expect(options.prompt == "p" && options.negativePrompt == "q" && options.count == 2)
            #expect(options.width == 64 && options.height == 32 && options.steps == 3 && options.cfgScale == 4.5)
            #expect(options.sampler == .dpmpp2M && options.schedule == .karras && options.seed == 9)
            #expect(options.clipSkip == 2 && options.rng == .std_default && options.eta == 0.5)
        }
    }

    @Test func aNegativeSeedIsRandomAndReported() async throws {
        let generator = FakeGenerator()
        try await withServer(generator: generator) { client in
            let first = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "seed": -1, "steps": 1}"#).decode(ImageResponse.self)
            let second = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "seed": -1, "steps": 1}"#).decode(ImageResponse.self)
            let a = try #require(first.data.first?.seed), b = try #require(second.data.first?.seed)
            #expect(a != b && a <= UInt64(UInt32.max))
        }
    }

    @Test func multipartEditsTakeStrengthNegativePromptAndMask() async throws {
        let generator = FakeGenerator()
        try await withServer(generator: generator) { client in
            var form = MultipartBuilder()
            form.addFile("image", filename: "in.png", testPNG(width: 30, height: 20))
            form.addFile("mask", filename: "mask.png", testPNG(width: 30, height: 20) { _, _ in [255, 255, 255] })
            form.add("prompt", "p")
            form.add("negative_prompt", "q")
            form.add("strength", "0.4")
            form.add("model", "fake")
            form.add("n", "1")
            form.add("width", "40")
            form.add("height", "24")
            let response = try await client.postForm("/v1/images/edits", form)
            #expect(response.status == .ok, "\(response.text)")
            let options = try #require(generator.lastOptions)
            #expect(options.negativePrompt == "q" && options.strength == 0.4 && options.width == 40 && options.height == 24)
            #expect(options.initImage?.width == 30 && options.mask?.height == 20)
        }
    }

    @Test func theTaskFlagDisablesRoutes() async throws {
        let configuration = testConfiguration { $0.task = .textToImage }
        try await withServer(configuration, generator: FakeGenerator()) { client in
            var form = MultipartBuilder()
            form.addFile("image", filename: "in.png", testPNG(width: 8, height: 8))
            form.add("prompt", "p")
            let response = try await client.postForm("/v1/images/edits", form)
            #expect(response.status == .notFound && response.error?.message.contains("--task text2image") == true)
            #expect(try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#).status == .ok)
        }
    }

    @Test func finishedJobsAreGoneAfterTheirTimeToLive() async throws {
        let configuration = testConfiguration { $0.jobTimeToLive = .milliseconds(50) }
        try await withServer(configuration, generator: FakeGenerator()) { client in
            let job = try await client.postJSON("/v1/images/generations/jobs", #"{"prompt": "x", "steps": 1}"#).decode(JobStatusResponse.self)
            #expect(try await eventually {
                try await client.execute(uri: "/v1/images/jobs/\(job.id)", method: .get).status == .gone
            })
        }
    }
}
