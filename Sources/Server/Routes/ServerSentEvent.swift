import Foundation

/// The `text/event-stream` framing of job events.
enum ServerSentEvent {
    private struct Queued: Encodable {
        var id: String
        var position: Int
    }

    private struct Started: Encodable {
        var id: String
    }

    static func encode(_ event: JobEvent, jobID: String) -> [UInt8] {
        let name: String, data: [UInt8]
        switch event {
        case .queued(let position): (name, data) = ("queued", JSONResponse.bytes(Queued(id: jobID, position: position)))
        case .started: (name, data) = ("started", JSONResponse.bytes(Started(id: jobID)))
        case .progress(let progress): (name, data) = ("progress", JSONResponse.bytes(progress))
        case .completed(let response): (name, data) = ("completed", JSONResponse.bytes(response))
        case .failed(let error): (name, data) = ("error", JSONResponse.bytes(error.body))
        }
        // JSON from JSONEncoder has no raw newlines, so one data line is enough.
        return Array("event: \(name)\ndata: ".utf8) + data + Array("\n\n".utf8)
    }
}
