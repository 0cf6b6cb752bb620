/// Every failure the server reports, with what the client needs to fix it. Mapped to HTTP in one
/// place, `ServerError+HTTP.swift`.
public enum ServerError: Error, Equatable, CustomStringConvertible {
    /// A field is missing, malformed or out of range; `field` names it.
    case invalidField(field: String?, message: String)
    /// The request needs something this server does not have (ControlNet, LoRA, a disabled task).
    case unsupported(field: String?, message: String)
    /// No or wrong API key.
    case unauthorized(String)
    /// No such route, file or job.
    case notFound(String)
    /// The request's `model` names no model this server has.
    case unknownModel(String)
    /// The route exists but not for this method.
    case methodNotAllowed(method: String, path: String)
    /// The body is larger than the configured limit.
    case bodyTooLarge(limit: Int)
    /// The queue is full; try again after `retryAfter` seconds.
    case queueFull(retryAfter: Int)
    /// The job finished too long ago; its result is gone.
    case gone(String)
    /// The job cannot be cancelled any more.
    case conflict(String)
    /// The job was cancelled (by the client, a disconnect or shutdown).
    case cancelled(String)
    /// The server is shutting down.
    case shuttingDown
    /// Every connection slot is taken (`--max-connections`); try again after `retryAfter` seconds.
    case tooManyConnections(retryAfter: Int)
    /// A service the request needs (cluster mode's database) cannot be reached; try again after
    /// `retryAfter` seconds (503).
    case unavailable(String, retryAfter: Int)
    /// The output file could not be stored: the disk or the quota is full (507).
    case insufficientStorage(String)
    /// A bug or an environment failure (an output folder that is not writable); the message is
    /// safe to show.
    case internalError(String)

    /// The message sent to the client.
    public var description: String {
        switch self {
        case .invalidField(let field, let message), .unsupported(let field, let message):
            if let field, !message.contains(field) { return "\(field): \(message)" }
            return message
        case .unauthorized(let message), .notFound(let message), .gone(let message), .conflict(let message),
            .cancelled(let message), .insufficientStorage(let message), .internalError(let message):
            return message
        case .unknownModel(let name): return "the model '\(name.prefix(100))' does not exist (GET /v1/models lists them)"
        case .methodNotAllowed(let method, let path): return "method \(method) is not allowed on \(path)"
        case .bodyTooLarge(let limit): return "request body is larger than \(limit) bytes"
        case .unavailable(let message, _): return message
        case .queueFull(let retryAfter): return "the generation queue is full; retry after \(retryAfter) s"
        case .shuttingDown: return "the server is shutting down"
        case .tooManyConnections(let retryAfter):
            return "the server has too many open connections; retry after \(retryAfter) s"
        }
    }
}
