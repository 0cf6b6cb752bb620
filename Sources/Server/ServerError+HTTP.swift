import Diffusion
import Foundation
import Hummingbird
import NIOCore
import Tensor

// The single place where errors become HTTP responses: library errors, decoding errors,
// Hummingbird's own errors and `ServerError`, all in OpenAI's error shape.

extension ServerError {
    /// Any error as a `ServerError`: library and framework errors are translated, unknown ones
    /// become a 500 that does not leak internals.
    init(_ error: any Error) {
        switch error {
        case let error as ServerError:
            self = error
        case let error as StorageError:
            self = error.serverError
        case GenerationError.invalidOption(let field, let reason):
            self = .invalidField(field: field, message: "invalid \(field): \(reason)")
        case GenerationError.unsupported(let what):
            self = .unsupported(field: nil, message: "unsupported: \(what)")
        case WeightError.changedOnDisk:
            // The pool checks the files before each generation; this is a change in between.
            self = .internalError("a weight file of the model changed on disk; the next request loads the model again")
        case GenerationError.cancelled, is CancellationError, is GenerationInterruption:
            // An interruption reaches here only from a model that does not keep its pictures.
            self = .cancelled("the generation was cancelled")
        case let error as DecodingError:
            self = ServerError.decoding(error)
        case let error as any HTTPResponseError:
            switch error.status.code {
            case 404: self = .notFound("the requested endpoint was not found")
            case 413: self = .bodyTooLarge(limit: 0)
            case 400..<500: self = .invalidField(field: nil, message: "bad request (\(error.status.code))")
            default: self = .internalError("internal error (\(error.status.code))")
            }
        default:
            self = .internalError("internal error: \(type(of: error))")
        }
    }

    /// A JSON decoding failure named by its field path (`steps`, `control_image.id`).
    static func decoding(_ error: DecodingError) -> ServerError {
        func path(_ keys: [any CodingKey]) -> String? {
            let names = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return names.isEmpty ? nil : names.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key]) ?? key.stringValue
            return .invalidField(field: field, message: "missing field '\(field)'")
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            return .invalidField(field: field, message: "'\(field ?? "body")' has the wrong type, expected \(type)")
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return .invalidField(field: field, message: "'\(field ?? "body")' is null, expected \(type)")
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if let field { return .invalidField(field: field, message: "'\(field)' is invalid (\(context.debugDescription))") }
            return .invalidField(field: nil, message: "the body is not valid JSON")
        @unknown default:
            return .invalidField(field: nil, message: "the body could not be decoded")
        }
    }

    /// The HTTP status.
    var status: HTTPResponse.Status {
        switch self {
        case .invalidField, .unsupported: .badRequest
        case .unauthorized: .unauthorized
        case .notFound, .unknownModel: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .bodyTooLarge: .contentTooLarge
        case .queueFull: .tooManyRequests
        case .gone: .gone
        case .conflict: .conflict
        case .cancelled: .init(code: 499, reasonPhrase: "Client Closed Request")
        case .shuttingDown, .tooManyConnections, .unavailable: .serviceUnavailable
        case .insufficientStorage: .init(code: 507, reasonPhrase: "Insufficient Storage")
        case .internalError: .internalServerError
        }
    }

    /// OpenAI's error body.
    var body: ErrorResponse {
        let (type, param, code): (String, String?, String?)
        switch self {
        case .invalidField(let field, _): (type, param, code) = ("invalid_request_error", field, "invalid_value")
        case .unsupported(let field, _): (type, param, code) = ("invalid_request_error", field, "unsupported")
        case .unauthorized: (type, param, code) = ("invalid_request_error", nil, "invalid_api_key")
        case .notFound: (type, param, code) = ("invalid_request_error", nil, "not_found")
        case .unknownModel: (type, param, code) = ("invalid_request_error", "model", "model_not_found")
        case .methodNotAllowed: (type, param, code) = ("invalid_request_error", nil, "method_not_allowed")
        case .bodyTooLarge: (type, param, code) = ("invalid_request_error", nil, "request_too_large")
        case .queueFull: (type, param, code) = ("rate_limit_error", nil, "queue_full")
        case .gone: (type, param, code) = ("invalid_request_error", nil, "expired")
        case .conflict: (type, param, code) = ("invalid_request_error", nil, "conflict")
        case .cancelled: (type, param, code) = ("cancelled", nil, "cancelled")
        case .shuttingDown: (type, param, code) = ("server_error", nil, "shutting_down")
        case .tooManyConnections: (type, param, code) = ("server_error", nil, "too_many_connections")
        case .unavailable: (type, param, code) = ("server_error", nil, "unavailable")
        case .insufficientStorage: (type, param, code) = ("server_error", nil, "insufficient_storage")
        case .internalError: (type, param, code) = ("server_error", nil, nil)
        }
        return ErrorResponse(error: .init(message: description, type: type, param: param, code: code))
    }

    /// The complete response: status, JSON body, `Retry-After` for 429 and 503 at the connection limit.
    func response() -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        switch self {
        case .queueFull(let retryAfter), .tooManyConnections(let retryAfter), .unavailable(_, let retryAfter):
            headers[.retryAfter] = String(retryAfter)
        default: break
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(body)) ?? Data(#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#.utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
