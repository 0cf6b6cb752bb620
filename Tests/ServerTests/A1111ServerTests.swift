@testable import Diffusion
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Samplers
@testable import Server
import Tensor
import TestSupport
import Testing

/// AUTOMATIC1111's API (`/sdapi/v1`) with the bodies real clients send (`A1111Fixtures`): the
/// pictures are the library's for the same options, bit for bit; `info` reports the real seeds;
/// progress, interrupt and skip act on a running job (held at a chosen step by `GatedPipeline`,
/// so nothing depends on timing); errors are A1111's and name the field.
@Suite(.serialized) struct A1111ServerTests {
    let pipeline: DiffusionPipeline

    init() throws {
        pipeline = try #require(builtInPipeline, "the built-in model must load")
    }

    /// The answer of txt2img / img2img.
    struct Answer: Decodable {
        var images: [String]
        var parameters: [String: A1111JSON]
        var info: String

        func decodedInfo() throws -> A1111Info { try JSONDecoder().decode(A1111Info.self, from: Data(info.utf8)) }

        func png(_ i: Int) throws -> [UInt8] { Array(try #require(Data(base64Encoded: images[i]))) }

        func pixels(_ i: Int) throws -> [UInt8] { try PNG.decode(png(i)).pixels }
    }

    func options(_ prompt: String, seed: UInt64, steps: Int, sampler: SamplerKind, count: Int = 1) -> GenerationOptions {
        var o = GenerationOptions(prompt: prompt)
        o.width = 64
        o.height = 64
        o.steps = steps
        o.seed = seed
        o.sampler = sampler
        o.count = count
        return o
    }

    // MARK: - The clients' bodies

    @Test func sillyTavernsBodyGivesTheLibrarysPicture() async throws {
        var o = options("a red circle on a blue background", seed: 1234, steps: 3, sampler: .dpmpp2M)
        o.negativePrompt = "lowres, bad anatomy"
        o.schedule = .karras
        o.clipSkip = 1
        let expected = try #require(try pipeline.generate(o).first)
        try await withServer(generator: pipeline) { client in
            let reply = try await client.postJSON("/sdapi/v1/txt2img", A1111Fixtures.sillyTavernTxt2Img)
            #expect(reply.status == .ok, "\(reply.text.prefix(400))")
            let answer = try reply.decode(Answer.self)
            #expect(answer.images.count == 1)
            let png = try answer.png(0)
            let picture = try PNG.decode(png)
            #expect(picture.width == 64 && picture.height == 64)
            #expect(picture.pixels == expected.image.pixels)
            // The PNG carries A1111's parameters text, as A1111's own do.
            #expect(PNG.textChunks(png)["parameters"] == expected.parameters)
            let info = try answer.decodedInfo()
            #expect(info.seed == 1234 && info.allSeeds == [1234] && info.subseed == -1)
            #expect(info.samplerName == "DPM++ 2M" && info.scheduler == "Karras")
            #expect(info.width == 64 && info.height == 64 && info.steps == 3 && info.cfgScale == 7)
            #expect(info.batchSize == 1 && info.nIter == 1 && info.clipSkip == 1 && info.sdModelName == "tiny-shapes")
            #expect(info.prompt == "a red circle on a blue background" && info.negativePrompt == "lowres, bad anatomy")
            #expect(info.infotexts == [expected.parameters])
            #expect(info.jobTimestamp.count == 14 && info.jobTimestamp.allSatisfy(\.isNumber))
            // `parameters` echoes the request, unknown fields included.
            #expect(answer.parameters["hr_upscaler"] == .string("Latent"))
            #expect(answer.parameters["seed"] == .integer(1234))
            #expect(answer.parameters["n_iter"] == .integer(1), "A1111's default filled in")
        }
    }

    @Test func openWebUIsBodyReportsTheRandomSeedItUsed() async throws {
        try await withServer(generator: pipeline) { client in
            let reply = try await client.postJSON("/sdapi/v1/txt2img", A1111Fixtures.openWebUITxt2Img)
            #expect(reply.status == .ok, "\(reply.text.prefix(400))")
            let answer = try reply.decode(Answer.self)
            let info = try answer.decodedInfo()
            #expect(answer.images.count == 2)
            #expect(info.allSeeds == [info.seed, info.seed + 1], "consecutive, starting at the real seed")
            #expect(info.batchSize == 2 && info.samplerName == "Euler a" && info.scheduler == "Automatic")
            // The reported seed reproduces both pictures.
            var o = options("a green triangle", seed: info.seed, steps: 2, sampler: .eulerAncestral, count: 2)
            o.negativePrompt = "blurry"
            o.cfgScale = 6.5
            let expected = try pipeline.generate(o)
            #expect(try answer.pixels(0) == expected[0].image.pixels)
            #expect(try answer.pixels(1) == expected[1].image.pixels)
            #expect(answer.parameters["seed"] == .integer(-1), "the request as sent, A1111's default")
        }
    }

    /// The script's `override_settings` choose the checkpoint (an A1111 title with a hash) and
    /// clip skip; `POST /sdapi/v1/options` changes the model of later requests.
    @Test func overrideSettingsAndOptionsChooseTheModel() async throws {
        let fake = FakeGenerator()
        let models = ModelPool(
            defaultModel: ModelSource(name: "fake", path: nil), preloaded: fake, others: [ModelSource(name: "tiny-shapes", path: nil)],
            maxLoaded: 2
        ) { [pipeline] source -> any ImageGenerating in source.name == "tiny-shapes" ? pipeline : fake }
        var o = options("a yellow square", seed: 42, steps: 2, sampler: .euler, count: 2)
        o.clipSkip = 2
        o.eta = 0
        let expected = try pipeline.generate(o)
        try await withServer(models: models) { client in
            let reply = try await client.postJSON("/sdapi/v1/txt2img", A1111Fixtures.scriptTxt2Img)
            #expect(reply.status == .ok, "\(reply.text.prefix(400))")
            let answer = try reply.decode(Answer.self)
            #expect(answer.images.count == 2)
            #expect(try answer.pixels(0) == expected[0].image.pixels && answer.pixels(1) == expected[1].image.pixels)
            let info = try answer.decodedInfo()
            #expect(info.sdModelName == "tiny-shapes" && info.clipSkip == 2 && info.nIter == 2 && info.samplerName == "Euler")
            #expect(info.allSeeds == [42, 43])

            let plain = #"{"prompt": "a yellow square", "width": 64, "height": 64, "steps": 2, "seed": 42, "sampler_name": "Euler"}"#
            let before = try await client.postJSON("/sdapi/v1/txt2img", plain).decode(Answer.self)
            #expect(try before.decodedInfo().sdModelName == "fake")
            let options = try await client.execute(uri: "/sdapi/v1/options", method: .get).decode([String: A1111JSON].self)
            #expect(options["sd_model_checkpoint"] == .string("fake"))
            let set = try await client.postJSON("/sdapi/v1/options", #"{"sd_model_checkpoint": "tiny-shapes", "some_ui_setting": 3}"#)
            #expect(set.status == .ok && set.text == "null")
            let after = try await client.postJSON("/sdapi/v1/txt2img", plain).decode(Answer.self)
            #expect(try after.decodedInfo().sdModelName == "tiny-shapes")
            let reread = try await client.execute(uri: "/sdapi/v1/options", method: .get).decode([String: A1111JSON].self)
            #expect(reread["sd_model_checkpoint"] == .string("tiny-shapes"))
            let unknown = try await client.postJSON("/sdapi/v1/options", #"{"sd_model_checkpoint": "nothing.safetensors"}"#)
            #expect(unknown.status == .notFound, "\(unknown.text)")
        }
    }

    @Test func anInpaintingBodyGivesTheLibrarysPicture() async throws {
        let source = testPNG(width: 64, height: 64) { x, _ in x < 32 ? [200, 40, 40] : [40, 40, 200] }
        let mask = testPNG(width: 64, height: 64) { x, _ in x < 32 ? [0, 0, 0] : [255, 255, 255] }
        var o = options("a yellow square", seed: 99, steps: 4, sampler: .eulerAncestral)
        o.initImage = try PNG.decode(source)
        o.mask = try PNG.decode(mask)
        o.strength = 0.6
        let expected = try #require(try pipeline.generate(o).first).image.pixels
        var inverted = o
        inverted.mask = try PNG.decode(testPNG(width: 64, height: 64) { x, _ in x < 32 ? [255, 255, 255] : [0, 0, 0] })
        let expectedInverted = try #require(try pipeline.generate(inverted).first).image.pixels
        #expect(expected != expectedInverted)
        let body = A1111Fixtures.inpaintingImg2Img.replacingOccurrences(of: "__INIT__", with: Data(source).base64EncodedString())
            .replacingOccurrences(of: "__MASK__", with: Data(mask).base64EncodedString())
        try await withServer(generator: pipeline) { client in
            let reply = try await client.postJSON("/sdapi/v1/img2img", body)
            #expect(reply.status == .ok, "\(reply.text.prefix(400))")
            let answer = try reply.decode(Answer.self)
            #expect(try answer.pixels(0) == expected)
            #expect(try answer.decodedInfo().denoisingStrength == 0.6)
            #expect(answer.parameters["init_images"] == .null && answer.parameters["mask"] == .null, "not echoed")
            let invertedBody = body.replacingOccurrences(of: #""inpainting_mask_invert": 0"#, with: #""inpainting_mask_invert": 1"#)
            let invertedReply = try await client.postJSON("/sdapi/v1/img2img", invertedBody).decode(Answer.self)
            #expect(try invertedReply.pixels(0) == expectedInverted)
        }
    }

    // MARK: - Progress, interrupt, skip

    /// Runs a txt2img of `pictures` pictures and `steps` steps on a second connection while
    /// `during` looks at the server, the model held at `hold` until `during` returns.
    func whileHeld(
        at hold: (image: Int, step: Int), pictures: Int, steps: Int, seed: UInt64,
        _ during: @escaping @Sendable (LiveClient, GatedPipeline) async throws -> Void
    ) async throws -> Answer {
        let gate = GatedPipeline(base: pipeline, holdAt: hold)
        defer { gate.openGate() }
        return try await withServer(generator: gate) { client in
            let port = try #require(client.port)
            let body = #"{"prompt": "a red circle", "width": 64, "height": 64, "steps": \#(steps), "batch_size": \#(pictures), "seed": \#(seed), "sampler_name": "Euler"}"#
            async let reply = TestClient.withClient(host: "localhost", port: port, configuration: .init(timeout: patience)) { other in
                try await LiveClient(port: port, connection: other).postJSON("/sdapi/v1/txt2img", body)
            }
            #expect(try await eventually { gate.isHeld }, "the generation reached the held step")
            do {
                try await during(client, gate)
            } catch {
                gate.openGate()
                _ = try? await reply
                throw error
            }
            gate.openGate()
            let answer = try await reply
            #expect(answer.status == .ok, "\(answer.text.prefix(400))")
            let idle = try await client.execute(uri: "/sdapi/v1/progress", method: .get).decode(A1111Progress.self)
            #expect(idle == A1111Progress.idle, "nothing runs after the answer")
            return try answer.decode(Answer.self)
        }
    }

    @Test func progressReportsTheRunningJob() async throws {
        let answer = try await whileHeld(at: (image: 0, step: 2), pictures: 2, steps: 6, seed: 5) { client, _ in
            let progress = try await client.execute(uri: "/sdapi/v1/progress", method: .get).decode(A1111Progress.self)
            #expect(progress.state.job == "scripts_txt2img" && progress.state.jobCount == 2 && progress.state.jobNo == 0)
            #expect(progress.state.samplingStep == 2 && progress.state.samplingSteps == 6, "two steps of six reported")
            #expect(abs(progress.progress - (0.01 + 2.0 / 6 / 2)) < 1e-9)
            #expect(progress.etaRelative >= 0 && !progress.state.skipped && !progress.state.interrupted)
            #expect(progress.state.jobTimestamp.count == 14)
            let currentImage = try #require(progress.currentImage)
            let preview = try PNG.decode(Array(try #require(Data(base64Encoded: currentImage))))
            #expect(preview.width == 8 && preview.height == 8, "one pixel per latent cell")
            let withoutImage = try await client.execute(uri: "/sdapi/v1/progress?skip_current_image=true", method: .get)
            #expect(try withoutImage.decode(A1111Progress.self).currentImage == nil)
            #expect(withoutImage.text.contains(#""current_image":null"#))
        }
        #expect(answer.images.count == 2)
    }

    @Test func interruptEndsTheJobWithThePictureSoFar() async throws {
        let full = try pipeline.generate(options("a red circle", seed: 8, steps: 6, sampler: .euler, count: 2))
        let answer = try await whileHeld(at: (image: 0, step: 1), pictures: 2, steps: 6, seed: 8) { client, _ in
            let reply = try await client.execute(uri: "/sdapi/v1/interrupt", method: .post)
            #expect(reply.status == .ok && reply.text == "{}")
            let progress = try await client.execute(uri: "/sdapi/v1/progress", method: .get).decode(A1111Progress.self)
            #expect(progress.state.interrupted)
        }
        #expect(answer.images.count == 1, "the second picture never ran")
        #expect(try answer.pixels(0) != full[0].image.pixels, "the first ended early")
        let info = try answer.decodedInfo()
        #expect(info.allSeeds == [8, 9] && info.infotexts.count == 1)
    }

    @Test func skipEndsOnePictureAndGoesOn() async throws {
        let full = try pipeline.generate(options("a red circle", seed: 8, steps: 6, sampler: .euler, count: 2))
        let answer = try await whileHeld(at: (image: 0, step: 1), pictures: 2, steps: 6, seed: 8) { client, _ in
            let reply = try await client.execute(uri: "/sdapi/v1/skip", method: .post)
            #expect(reply.status == .ok && reply.text == "null")
            let progress = try await client.execute(uri: "/sdapi/v1/progress", method: .get).decode(A1111Progress.self)
            #expect(progress.state.skipped)
        }
        #expect(answer.images.count == 2)
        #expect(try answer.pixels(0) != full[0].image.pixels, "the first picture ended early")
        #expect(try answer.pixels(1) == full[1].image.pixels, "the second is the whole picture")
    }

    @Test func progressInterruptAndSkipWithNothingRunning() async throws {
        try await withServer(generator: FakeGenerator()) { client in
            let progress = try await client.execute(uri: "/sdapi/v1/progress", method: .get)
            #expect(try progress.decode(A1111Progress.self) == A1111Progress.idle)
            #expect(try await client.execute(uri: "/sdapi/v1/interrupt", method: .post).status == .ok)
            #expect(try await client.execute(uri: "/sdapi/v1/skip", method: .post).status == .ok)
            #expect(try await client.execute(uri: "/sdapi/v1/interrupt", method: .get).status == .methodNotAllowed)
        }
    }

    // MARK: - Listings and options

    @Test func listingsHaveA1111sShapes() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("a1111-\(UUID().uuidString)").path
        for sub in ["loras", "embeddings"] {
            try FileManager.default.createDirectory(atPath: folder + "/" + sub, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var lora = SafetensorsWriter(metadata: ["ss_output_name": "style-v1"])
        lora.add("lora_unet_x.lora_down.weight", pseudoRandomTensor([4, 8], seed: 1))
        try lora.write(to: folder + "/loras/style.safetensors")
        var embedding = SafetensorsWriter()
        embedding.add("emb_params", pseudoRandomTensor([2, 64], seed: 2))
        try embedding.write(to: folder + "/embeddings/glow.safetensors")
        let configuration = testConfiguration {
            $0.loraModelDirectory = folder + "/loras"
            $0.embeddingDirectory = folder + "/embeddings"
        }
        try await withServer(configuration, generator: FakeGenerator()) { client in
            func json(_ path: String) async throws -> A1111JSON {
                let reply = try await client.execute(uri: path, method: .get)
                #expect(reply.status == .ok, "\(path): \(reply.text.prefix(300))")
                return try reply.decode(A1111JSON.self)
            }
            guard case .array(let samplers) = try await json("/sdapi/v1/samplers") else { Issue.record("samplers"); return }
            let names = samplers.compactMap { item -> String? in if case .object(let o) = item, case .string(let n)? = o["name"] { n } else { nil } }
            #expect(["Euler a", "Euler", "DPM++ 2M", "DPM++ 2S a", "Heun", "DPM2", "LCM"].allSatisfy(names.contains), "\(names)")
            #expect(samplers.contains(.object(["name": .string("DPM++ 2M"), "aliases": .array([.string("k_dpmpp_2m"), .string("dpm++2m")]), "options": .object(["scheduler": .string("karras")])])))
            guard case .array(let schedulers) = try await json("/sdapi/v1/schedulers") else { Issue.record("schedulers"); return }
            #expect(schedulers.contains(.object([
                "name": .string("karras"), "label": .string("Karras"), "aliases": .null, "default_rho": .integer(7), "need_inner_model": .bool(false),
            ])), "\(schedulers)")
            #expect(try await json("/sdapi/v1/sd-models") == .array([.object([
                "title": .string("fake"), "model_name": .string("fake"), "hash": .null, "sha256": .null, "filename": .string("fake"), "config": .null,
            ])]))
            #expect(try await json("/sdapi/v1/loras") == .array([.object([
                "name": .string("style"), "alias": .string("style"), "path": .string("style.safetensors"),
                "metadata": .object(["ss_output_name": .string("style-v1")]),
            ])]))
            let embeddings = try await json("/sdapi/v1/embeddings")
            #expect(embeddings == .object([
                "loaded": .object(["glow": .object(["step": .null, "sd_checkpoint": .null, "sd_checkpoint_name": .null, "shape": .integer(64), "vectors": .integer(2)])]),
                "skipped": .object([:]),
            ]), "\(embeddings)")
            guard case .object(let options) = try await json("/sdapi/v1/options") else { Issue.record("options"); return }
            #expect(options["sd_model_checkpoint"] == .string("fake") && options["CLIP_stop_at_last_layers"] == .integer(1))
            #expect(options["samples_format"] == .string("png"))
            #expect(try await json("/sdapi/v1/upscalers") == .array([]))
            guard case .object(let flags) = try await json("/sdapi/v1/cmd-flags") else { Issue.record("cmd-flags"); return }
            #expect(flags["api"] == .bool(true))
            #expect(try await json("/internal/ping") == .object([:]))
        }
    }

    // MARK: - Errors

    /// A1111's error body: its type, FastAPI's `detail` list for a field, the message.
    struct ErrorBody {
        var error: String
        var location: [String]?
        var message: String

        init(_ reply: Reply) throws {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView)) as? [String: Any], "\(reply.text)")
            error = try #require(object["error"] as? String)
            message = try #require(object["errors"] as? String)
            location = ((object["detail"] as? [[String: Any]])?.first?["loc"] as? [String])
        }
    }

    @Test func errorsAreA1111sAndNameTheField() async throws {
        let png = Data(testPNG(width: 8, height: 8)).base64EncodedString()
        let notPicture = Data("hello".utf8).base64EncodedString()
        let base = #""prompt": "x", "width": 64, "height": 64, "steps": 1"#
        let cases: [(path: String, body: String, location: [String])] = [
            ("img2img", #"{\#(base), "init_images": ["%%%"]}"#, ["body", "init_images"]),
            ("img2img", #"{\#(base), "init_images": ["\#(notPicture)"]}"#, ["body", "init_images"]),
            ("img2img", #"{\#(base)}"#, ["body", "init_images"]),
            ("img2img", #"{\#(base), "init_images": ["data:image/png;base64,\#(png)"], "mask": "\#(notPicture)"}"#, ["body", "mask"]),
            ("img2img", #"{\#(base), "init_images": ["\#(png)"], "denoising_strength": 2}"#, ["body", "denoising_strength"]),
            ("txt2img", #"{\#(base), "sampler_name": "DPM++ SDE"}"#, ["body", "sampler_name"]),
            ("txt2img", #"{\#(base), "sampler_index": "Nope"}"#, ["body", "sampler_index"]),
            ("txt2img", #"{\#(base), "sampler_name": "Euler", "scheduler": "Beta"}"#, ["body", "scheduler"]),
            ("txt2img", #"{"prompt": "x", "steps": 500}"#, ["body", "steps"]),
            ("txt2img", #"{"prompt": "x", "steps": "many"}"#, ["body", "steps"]),
            ("txt2img", #"{\#(base), "batch_size": 3, "n_iter": 3}"#, ["body", "batch_size"]),
            ("txt2img", #"{\#(base), "n_iter": 0}"#, ["body", "n_iter"]),
            ("txt2img", #"{"prompt": "x", "width": 13, "height": 64}"#, ["body", "width"]),
            ("txt2img", #"{\#(base), "enable_hr": true}"#, ["body", "enable_hr"]),
            ("txt2img", #"{\#(base), "cfg_scale": 1000}"#, ["body", "cfg_scale"]),
            ("txt2img", #"{\#(base), "override_settings": {"CLIP_stop_at_last_layers": 40}}"#, ["body", "override_settings", "CLIP_stop_at_last_layers"]),
            ("txt2img", #"{\#(base), "seed": 1e30}"#, ["body", "seed"]),
            ("txt2img", #"{"steps": 1}"#, ["body", "prompt"]),
            ("txt2img", #"[1, 2]"#, ["body"]),
        ]
        try await withServer(generator: FakeGenerator()) { client in
            for item in cases {
                let reply = try await client.postJSON("/sdapi/v1/\(item.path)", item.body)
                #expect(reply.status == .unprocessableContent, "\(item.body.prefix(120)): \(reply.text.prefix(300))")
                let body = try ErrorBody(reply)
                #expect(body.location == item.location, "\(item.body.prefix(120)): \(reply.text.prefix(300))")
                #expect(body.error == "RequestValidationError" && !body.message.isEmpty)
            }
            let unknown = try await client.postJSON("/sdapi/v1/txt2img", #"{\#(base), "override_settings": {"sd_model_checkpoint": "nothing"}}"#)
            #expect(unknown.status == .notFound)
            #expect(try ErrorBody(unknown).message.contains("nothing"))
            // The server keeps serving.
            #expect(try await client.postJSON("/sdapi/v1/txt2img", "{\(base)}").status == .ok)
        }
    }

    @Test func aFullQueueIs429WithRetryAfter() async throws {
        let generator = FakeGenerator(gateOpen: false)
        try await withServer(testConfiguration { $0.maxQueueLength = 0 }, generator: generator) { client in
            let running = try await client.postJSON("/v1/images/generations/jobs", #"{"prompt": "a", "steps": 1}"#)
            #expect(running.status == .accepted)
            let refused = try await client.postJSON("/sdapi/v1/txt2img", #"{"prompt": "b", "steps": 1, "width": 64, "height": 64}"#)
            #expect(refused.status == .tooManyRequests && refused.headers[.retryAfter] == "5")
            #expect(try ErrorBody(refused).error == "HTTPException")
            let job = try running.decode(JobStatusResponse.self)
            #expect(try await client.execute(uri: "/v1/images/jobs/\(job.id)", method: .delete).status == .ok)
        }
    }

    /// A1111 clients send `--api-auth` as HTTP Basic; with `API_KEY` set, the key as the password
    /// (or as the whole `user:password`) passes, as a Bearer key does.
    @Test func basicAuthCarryingTheKeyIsAccepted() async throws {
        try await withServer(testConfiguration { $0.apiKey = "s3cret" }, generator: FakeGenerator()) { client in
            let basic = { (text: String) in "Basic " + Data(text.utf8).base64EncodedString() }
            let cases: [(String?, HTTPResponse.Status)] = [
                (basic("user:s3cret"), .ok), (basic("s3cret"), .ok), ("Bearer s3cret", .ok),
                (basic("user:wrong"), .unauthorized), (basic("s3cret:user"), .unauthorized), (nil, .unauthorized),
            ]
            for (authorization, expected) in cases {
                var headers: HTTPFields = [:]
                if let authorization { headers[.authorization] = authorization }
                let reply = try await client.execute(uri: "/sdapi/v1/sd-models", method: .get, headers: headers)
                #expect(reply.status == expected, "\(authorization ?? "no header")")
            }
        }
    }
}

/// The built-in model, held before one step's report (so the job queue has reported the steps
/// before it) until the test opens the gate.
final class GatedPipeline: ImageGenerating, @unchecked Sendable {
    let base: DiffusionPipeline
    let holdAt: (image: Int, step: Int)
    private let lock = NSLock()
    private var open = false
    private var reached = false

    init(base: DiffusionPipeline, holdAt: (image: Int, step: Int)) {
        self.base = base
        self.holdAt = holdAt
    }

    var modelName: String { base.modelName }
    /// Held now: the step was reached and the gate is still shut.
    var isHeld: Bool { lock.withLock { reached && !open } }
    func openGate() { lock.withLock { open = true } }

    func preview(_ latent: Tensor) -> RGBImage { base.preview(latent) }

    func generate(
        _ options: GenerationOptions, limits: GenerationOptions.Limits, progress: (GenerationProgress) throws -> Void
    ) throws -> [GeneratedImage] {
        try base.generate(options, limits: limits) { step in
            if step.imageIndex == holdAt.image && step.step == holdAt.step {
                lock.withLock { reached = true }
                while !lock.withLock({ open }) { Thread.sleep(forTimeInterval: 0.005) }
            }
            try progress(step)
        }
    }
}
