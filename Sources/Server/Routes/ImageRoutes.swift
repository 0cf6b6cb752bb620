import Diffusion
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `POST /v1/images/generations` (JSON or multipart; `"stream": true` answers with server-sent
/// events) and `POST /v1/images/edits` (multipart), plus their asynchronous forms
/// `POST /v1/images/{generations,edits}/jobs` and stable-diffusion.cpp's `POST /sdcpp/v1/img_gen`.
struct ImageRoutes {
    let state: ServerState

    func register(on router: Router<ServerRequestContext>) {
        router.post("v1/images/generations") { request, context in try await respond(request, context: context, endpoint: .generations) }
        router.post("v1/images/edits") { request, context in try await respond(request, context: context, endpoint: .edits) }
        router.post("v1/images/generations/jobs") { request, _ in
            try await submitAsync(request, endpoint: .generations, pollPrefix: "/v1/images/jobs/")
        }
        router.post("v1/images/edits/jobs") { request, _ in
            try await submitAsync(request, endpoint: .edits, pollPrefix: "/v1/images/jobs/")
        }
        router.post("sdcpp/v1/img_gen") { request, _ in
            try await submitAsync(request, endpoint: .generations, pollPrefix: "/sdcpp/v1/jobs/")
        }
        router.post("v1/images/variations") { _, _ -> Response in
            throw ServerError.unsupported(field: nil, message: "image variations are not supported; use /v1/images/edits")
        }
        for path in ["v1/images/generations", "v1/images/edits", "v1/images/variations", "v1/images/generations/jobs",
            "v1/images/edits/jobs", "sdcpp/v1/img_gen"]
        {
            MethodGuard.refuse(on: router, path: path, allowing: [.post])
        }
    }

    private typealias Prepared = PreparedImageRequest

    private func prepare(_ request: Request, body: RequestBody, endpoint: ImageRequest.Endpoint) async throws -> Prepared {
        try await prepare(request, buffer: BodyReader.read(body, limit: state.configuration.maxBodySize), endpoint: endpoint)
    }

    private func prepare(_ request: Request, buffer: ByteBuffer, endpoint: ImageRequest.Endpoint) async throws -> Prepared {
        let task = state.configuration.task
        if endpoint == .generations && !task.servesGenerations || endpoint == .edits && !task.servesEdits {
            throw ServerError.notFound("\(request.uri.path) is disabled: the server runs with --task \(task.rawValue)")
        }
        let wire = try Prepared.wire(body: buffer, contentType: request.headers[.contentType] ?? "", endpoint: endpoint)
        let prepared: Prepared
        if let cluster = state.cluster {
            prepared = try await cluster.prepare(wire, endpoint: endpoint, state: state)
        } else {
            prepared = try Prepared(wire: wire, endpoint: endpoint, state: state)
        }
        state.logger.debug("image request", metadata: ["prompt": "\(prepared.options.prompt)", "user": "\(prepared.settings.user)", "model": "\(prepared.model)"])
        return prepared
    }

    private func submit(_ prepared: Prepared, keepsResult: Bool) async throws -> JobQueue.Ticket {
        let renderer = state.renderer, settings = prepared.settings
        return try await state.queue.submit(prepared.options, model: prepared.model, wantsPreview: settings.preview, keepsResult: keepsResult) {
            try renderer.render($0, settings: settings)
        }
    }

    /// The synchronous endpoints: wait for the job; a client that goes away (its side of the
    /// connection closes) cancels it, queued or running.
    private func respond(_ request: Request, context: ServerRequestContext, endpoint: ImageRequest.Endpoint) async throws -> Response {
        let queue = state.queue
        let link = DisconnectLink()
        let watcher = await DisconnectWatcher.install(on: context.channel) {
            if let id = link.close() { Task { await queue.cancelIfActive(id) } }
        }
        do {
            let prepared = try await prepare(request, body: request.body, endpoint: endpoint)
            let ticket = try await submit(prepared, keepsResult: false)
            if link.attach(ticket.id) { await queue.cancelIfActive(ticket.id) }
            let headers: HTTPFields = [Self.userHeader: prepared.settings.user, Self.jobHeader: ticket.id]
            if prepared.settings.stream {
                return streamingResponse(ticket: ticket, headers: headers) { watcher?.remove(from: context.channel) }
            }
            defer { watcher?.remove(from: context.channel) }
            do {
                let result = try await Self.result(of: ticket)
                if link.isClosed {
                    // The client left after the last step: nobody will fetch these files.
                    for id in result.data.compactMap(\.fileID) { _ = try? state.store.delete(id) }
                    throw ServerError.cancelled("the client went away")
                }
                return try JSONResponse.make(result, headers: headers)
            } catch {
                await queue.cancelIfActive(ticket.id)
                throw error
            }
        } catch {
            watcher?.remove(from: context.channel)
            throw error
        }
    }

    static let userHeader = HTTPField.Name("user")!
    static let jobHeader = HTTPField.Name("x-job-id")!

    private static func result(of ticket: JobQueue.Ticket) async throws -> ImageResponse {
        for await event in ticket.events {
            switch event {
            case .completed(let response): return response
            case .failed(let error): throw error
            case .queued, .started, .progress: continue
            }
        }
        throw ServerError.cancelled("the generation was cancelled")
    }

    /// Server-sent events: `queued` (with the job id and position), `started`, `progress` per
    /// step, then `completed` (the usual response body) or `error`. A client that leaves (the
    /// watcher, or a failed write) cancels the job.
    private func streamingResponse(ticket: JobQueue.Ticket, headers: HTTPFields, whenDone: @escaping @Sendable () -> Void) -> Response {
        var fields = headers
        fields[.contentType] = "text/event-stream"
        fields[.cacheControl] = "no-cache"
        let queue = state.queue
        let body = ResponseBody { writer in
            defer { whenDone() }
            do {
                for await event in ticket.events {
                    try await writer.write(ByteBuffer(bytes: ServerSentEvent.encode(event, jobID: ticket.id)))
                    if case .completed = event { break }
                    if case .failed = event { break }
                }
            } catch {
                await queue.cancelIfActive(ticket.id)
                throw error
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: fields, body: body)
    }

    /// The asynchronous form: 202 with the job id and where to poll.
    private func submitAsync(_ request: Request, endpoint: ImageRequest.Endpoint, pollPrefix: String) async throws -> Response {
        let buffer = try await BodyReader.read(request.body, limit: state.configuration.maxBodySize)
        var prepared = try await prepare(request, buffer: buffer, endpoint: endpoint)
        if let cluster = state.cluster {
            // Cluster mode: the validated wire request goes to the shared queue; any replica runs it.
            var body = try await cluster.submit(
                body: buffer, contentType: request.headers[.contentType] ?? "", endpoint: endpoint, model: prepared.model)
            body.pollURL = pollPrefix + body.id
            return try JSONResponse.make(body, status: .accepted, headers: [Self.userHeader: prepared.settings.user])
        }
        prepared.settings.stream = false
        let ticket = try await submit(prepared, keepsResult: true)
        let snapshot = try await state.queue.snapshot(ticket.id)
        var body = JobStatusResponse(snapshot)
        body.pollURL = pollPrefix + ticket.id
        return try JSONResponse.make(body, status: .accepted, headers: [Self.userHeader: prepared.settings.user])
    }
}
