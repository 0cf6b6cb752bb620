import Diffusion
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// AUTOMATIC1111's web API (`/sdapi/v1/*`, `modules/api/api.py`), as SillyTavern, Open WebUI and
/// scripts written for A1111 speak it: `txt2img` and `img2img` (synchronous, through the job
/// queue like every generation, so its limits, cancel on disconnect and concurrency apply),
/// `progress`, `interrupt` and `skip` for the A1111 jobs, the listings (samplers, schedulers,
/// checkpoints, LoRAs, embeddings) and `options`. Errors are A1111's (`A1111ErrorMiddleware`).
struct A1111Routes {
    let state: ServerState
    let session = A1111Session()

    private var checkpoints: A1111Checkpoints { A1111Checkpoints(models: state.models) }

    func register(on router: Router<ServerRequestContext>) {
        let api = router.group("sdapi/v1").add(middleware: A1111ErrorMiddleware())
        api.post("txt2img") { request, context in try await generate(request, context: context, mode: .txt2img) }
        api.post("img2img") { request, context in try await generate(request, context: context, mode: .img2img) }
        api.get("progress") { request, _ in try await progress(request) }
        api.post("interrupt") { _, _ in
            if let running = await runningJob(), await state.queue.interrupt(running.job.id, skipOnly: false) {
                session.markInterrupted(running.job.id)
            }
            return try JSONResponse.make([String: String]())
        }
        api.post("skip") { _, _ in
            if let running = await runningJob(), await state.queue.interrupt(running.job.id, skipOnly: true) {
                session.markSkipped(running.job.id, picture: (running.snapshot.progress?.image ?? 1) - 1)
            }
            return Self.null
        }
        registerListings(on: api)
        registerOptions(on: api)
        // A1111's liveness check (SillyTavern's "connect").
        router.get("internal/ping") { _, _ in try JSONResponse.make([String: String]()) }
        for (path, method) in [("txt2img", HTTPRequest.Method.post), ("img2img", .post), ("interrupt", .post), ("skip", .post), ("progress", .get)] {
            MethodGuard.refuse(on: router, path: "sdapi/v1/" + path, allowing: [method])
        }
    }

    /// A JSON `null` body, what A1111 answers where its handler returns nothing.
    static var null: Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "null")))
    }

    // MARK: - Generation

    private func generate(_ request: Request, context: ServerRequestContext, mode: A1111Request.Mode) async throws -> Response {
        let task = state.configuration.task
        guard mode == .txt2img ? task.servesGenerations : task.servesEdits else {
            throw ServerError.notFound("\(request.uri.path) is disabled: the server runs with --task \(task.rawValue)")
        }
        let queue = state.queue
        // A client that goes away cancels its job, waiting or running (as the OpenAI routes).
        let link = DisconnectLink()
        let watcher = await DisconnectWatcher.install(on: context.channel) {
            if let id = link.close() { Task { await queue.cancelIfActive(id) } }
        }
        defer { watcher?.remove(from: context.channel) }

        let buffer = try await BodyReader.read(request.body, limit: state.configuration.maxBodySize)
        let (wire, body) = try A1111Request.decode(Data(buffer.readableBytesView))
        let prepared = try wire.prepared(mode, context: state.mappingContext)
        let requested = wire.overrideSettings.sdModelCheckpoint.flatMap { $0.isEmpty ? nil : $0 }
        let model = try requested.map { try checkpoints.resolve($0) } ?? session.defaultModel ?? state.models.defaultName
        state.logger.debug("A1111 request", metadata: ["prompt": "\(prepared.options.prompt)", "model": "\(model)", "mode": "\(mode.rawValue)"])

        let pictures = A1111Pictures()
        let encode = wire.sendImages ?? true
        let submitted = Date()
        // Previews on: `/progress` shows the current estimate, as A1111's live preview.
        let ticket = try await queue.submit(prepared.options, model: model, wantsPreview: true, keepsResult: false) { images in
            pictures.store(images, encode: encode)
            return ImageResponse(created: Int(submitted.timeIntervalSince1970), data: [])
        }
        session.add(.init(id: ticket.id, mode: mode, pictures: prepared.options.count, steps: prepared.options.steps))
        defer { session.remove(ticket.id) }
        if link.attach(ticket.id) { await queue.cancelIfActive(ticket.id) }
        do {
            try await Self.completion(of: ticket)
            if link.isClosed { throw ServerError.cancelled("the client went away") }
        } catch {
            await queue.cancelIfActive(ticket.id)
            throw error
        }
        let started = (try? await queue.snapshot(ticket.id))?.started ?? submitted
        let response = Self.response(
            wire: wire, body: body, mode: mode, prepared: prepared, model: model, pictures: pictures.pictures, started: started)
        return try JSONResponse.make(response)
    }

    /// Waits for the job's end.
    /// - Throws: the job's error; `ServerError.cancelled` when it ended without one.
    private static func completion(of ticket: JobQueue.Ticket) async throws {
        for await event in ticket.events {
            switch event {
            case .completed: return
            case .failed(let error): throw error
            case .queued, .started, .progress: continue
            }
        }
        throw ServerError.cancelled("the generation was cancelled")
    }

    private static func response(
        wire: A1111Request, body: [String: A1111JSON], mode: A1111Request.Mode, prepared: A1111Request.Prepared, model: String,
        pictures: [A1111Pictures.Picture], started: Date
    ) -> A1111ImageResponse {
        let options = prepared.options, count = options.count
        let subseed = wire.subseed ?? -1
        let info = A1111Info(
            prompt: options.prompt, allPrompts: Array(repeating: options.prompt, count: count), negativePrompt: options.negativePrompt,
            allNegativePrompts: Array(repeating: options.negativePrompt, count: count), seed: options.seed,
            allSeeds: (0..<count).map { options.seed &+ UInt64($0) }, subseed: subseed, allSubseeds: Array(repeating: subseed, count: count),
            width: pictures.first?.width ?? options.width ?? A1111Request.Defaults.side,
            height: pictures.first?.height ?? options.height ?? A1111Request.Defaults.side, samplerName: prepared.choice.samplerName,
            scheduler: prepared.choice.schedulerLabel, cfgScale: options.cfgScale, steps: options.steps, batchSize: prepared.batchSize,
            nIter: prepared.iterations, sdModelName: model, denoisingStrength: mode == .img2img ? options.strength : wire.denoisingStrength,
            extraGenerationParams: ["Schedule type": prepared.choice.schedulerLabel], infotexts: pictures.map(\.infotext),
            jobTimestamp: A1111Info.timestamp(started), clipSkip: options.clipSkip ?? 1)
        return A1111ImageResponse(
            images: pictures.compactMap(\.base64PNG), parameters: echoedParameters(body, mode: mode, includeImages: wire.includeInitImages == true),
            info: info.jsonString)
    }

    /// The request as A1111 echoes it: as sent, with A1111's defaults for the main fields it
    /// left out, and the pictures blanked unless `include_init_images`.
    static func echoedParameters(_ body: [String: A1111JSON], mode: A1111Request.Mode, includeImages: Bool) -> [String: A1111JSON] {
        var defaults: [String: A1111JSON] = [
            "prompt": .string(""), "negative_prompt": .string(""), "styles": .array([]), "seed": .integer(-1), "subseed": .integer(-1),
            "subseed_strength": .number(0), "sampler_name": .null, "scheduler": .null, "batch_size": .integer(1), "n_iter": .integer(1),
            "steps": .integer(Int64(A1111Request.Defaults.steps)), "cfg_scale": .number(Double(A1111Request.Defaults.cfgScale)),
            "width": .integer(Int64(A1111Request.Defaults.side)), "height": .integer(Int64(A1111Request.Defaults.side)),
            "denoising_strength": mode == .img2img ? .number(Double(A1111Request.Defaults.denoisingStrength)) : .null,
            "override_settings": .object([:]), "send_images": .bool(true), "save_images": .bool(false), "alwayson_scripts": .object([:]),
        ]
        if mode == .img2img {
            defaults["resize_mode"] = .integer(0)
            defaults["mask_blur"] = .integer(4)
            defaults["inpainting_fill"] = .integer(0)
            defaults["inpainting_mask_invert"] = .integer(0)
        }
        var echoed = defaults.merging(body) { _, sent in sent }
        if mode == .img2img && !includeImages {
            echoed["init_images"] = .null
            echoed["mask"] = .null
        }
        return echoed
    }

    // MARK: - Progress, interrupt, skip

    /// The oldest A1111 job that is running now (A1111 runs one at a time; this server may run
    /// several, and waiting ones are not "current").
    private func runningJob() async -> (job: A1111Session.Job, snapshot: JobQueue.Snapshot)? {
        for job in session.inFlight {
            guard let snapshot = try? await state.queue.snapshot(job.id), snapshot.record.status == .generating else { continue }
            return (job: job, snapshot: snapshot)
        }
        return nil
    }

    private func progress(_ request: Request) async throws -> Response {
        let flag = request.uri.queryParameters.get("skip_current_image")?.lowercased()
        let skipImage = flag == "true" || flag == "1"
        guard let running = await runningJob() else { return try JSONResponse.make(A1111Progress.idle) }
        let (job, snapshot) = running
        let picture = (snapshot.progress?.image ?? 1) - 1
        let body = A1111Progress.running(
            snapshot.progress, pictures: job.pictures, steps: job.steps, job: job.mode.jobName, started: snapshot.started ?? Date(),
            skipped: job.skippedPicture == picture, interrupted: job.interrupted, preview: !skipImage)
        return try JSONResponse.make(body)
    }

    // MARK: - Listings

    private func registerListings(on api: RouterGroup<ServerRequestContext>) {
        let checkpoints = self.checkpoints
        let loraFolder = state.configuration.loraModelDirectory, embeddingFolder = state.configuration.embeddingDirectory
        api.get("samplers") { _, _ in
            try JSONResponse.make(A1111SamplerCatalog.samplers.map { SamplerItem(name: $0.name, aliases: $0.aliases, options: $0.options) })
        }
        api.get("schedulers") { _, _ in
            try JSONResponse.make(
                A1111SamplerCatalog.schedulers.map {
                    SchedulerItem(name: $0.name, label: $0.label, aliases: $0.aliases, defaultRho: $0.defaultRho, needInnerModel: $0.needsInnerModel)
                })
        }
        api.get("sd-models") { _, _ in try JSONResponse.make(checkpoints.items) }
        api.get("loras") { _, _ in try JSONResponse.make(A1111Networks.loras(in: loraFolder)) }
        api.get("embeddings") { _, _ in try JSONResponse.make(A1111Networks.embeddings(in: embeddingFolder)) }
        // Listings of things this server has none of, so clients' pickers stay empty, not broken.
        for path in ["upscalers", "latent-upscale-modes", "sd-vae", "hypernetworks", "face-restorers", "prompt-styles"] {
            api.get(RouterPath(path)) { _, _ in try JSONResponse.make([String]()) }
        }
        for path in ["refresh-checkpoints", "refresh-loras", "refresh-vae"] {
            api.post(RouterPath(path)) { _, _ in Self.null }
        }
        let configuration = state.configuration
        api.get("cmd-flags") { _, _ in
            let loopback = ["127.0.0.1", "::1", "localhost"].contains(configuration.host)
            let flags: [String: A1111JSON] = [
                "api": .bool(true), "nowebui": .bool(true), "listen": .bool(!loopback), "port": .integer(Int64(configuration.port)),
                "api_auth": configuration.apiKey == nil ? .null : .string("<set>"), "lora_dir": .null, "embeddings_dir": .null,
            ]
            return try JSONResponse.make(flags)
        }
    }

    struct SamplerItem: Encodable {
        var name: String
        var aliases: [String]
        var options: [String: A1111JSON]
    }

    struct SchedulerItem: Encodable {
        var name: String
        var label: String
        var aliases: [String]?
        var defaultRho: Double?
        var needInnerModel: Bool?

        enum CodingKeys: String, CodingKey {
            case name, label, aliases
            case defaultRho = "default_rho"
            case needInnerModel = "need_inner_model"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(label, forKey: .label)
            try c.encode(aliases, forKey: .aliases)
            try c.encode(defaultRho, forKey: .defaultRho)
            try c.encode(needInnerModel, forKey: .needInnerModel)
        }
    }

    // MARK: - Options

    /// `GET /sdapi/v1/options`: the few of A1111's hundreds of settings that mean something here.
    /// `POST` sets `sd_model_checkpoint` (validated) as the model of later A1111 requests; every
    /// other key is accepted and ignored (clients post back the whole object they read).
    private func registerOptions(on api: RouterGroup<ServerRequestContext>) {
        let checkpoints = self.checkpoints, session = self.session, models = state.models, limit = state.configuration.maxBodySize
        api.get("options") { _, _ in
            let current = checkpoints.item(for: session.defaultModel ?? models.defaultName)
            let options: [String: A1111JSON] = [
                "sd_model_checkpoint": .string(current.title), "sd_checkpoint_hash": .null, "CLIP_stop_at_last_layers": .integer(1),
                "samples_format": .string("png"), "sd_vae": .string("Automatic"), "live_previews_enable": .bool(true),
                "show_progress_every_n_steps": .integer(1),
            ]
            return try JSONResponse.make(options)
        }
        api.post("options") { request, _ in
            let buffer = try await BodyReader.read(request.body, limit: limit)
            let data = Data(buffer.readableBytesView)
            try data.withUnsafeBytes { try JSONBudget().check($0) }
            guard case .object(let settings) = try? JSONDecoder().decode(A1111JSON.self, from: data) else {
                throw ServerError.invalidField(field: nil, message: "the body must be a JSON object of settings")
            }
            switch settings["sd_model_checkpoint"] {
            case .string(let name) where !name.isEmpty: session.defaultModel = try checkpoints.resolve(name)
            case nil, .null: break
            default:
                throw ServerError.invalidField(field: "sd_model_checkpoint", message: "'sd_model_checkpoint' must be a checkpoint title (a string)")
            }
            return Self.null
        }
    }
}
