import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// AUTOMATIC1111's error bodies for the `/sdapi/v1` routes, which A1111 clients read instead of
/// OpenAI's: `{"error": type, "detail": message, "body": "", "errors": message}` (A1111's
/// exception handler), and for a bad field a 422 whose `detail` is FastAPI's validation list
/// `[{"loc": ["body", field...], "msg", "type"}]`, the form its request validation answers with.
/// Statuses are the server's (400-class refusals of a field are 422 here), with `Retry-After`
/// on 429 and 503. Errors raised before the route (401, 413) keep the server-wide shape.
struct A1111ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let serverError = ServerError(error)
            if case .internalError = serverError { context.logger.error("A1111 request failed", metadata: ["error": "\(error)"]) }
            return A1111ErrorBody(serverError).response(for: serverError)
        }
    }
}

/// The body itself.
struct A1111ErrorBody: Encodable, Equatable {
    /// FastAPI's validation item.
    struct Validation: Codable, Equatable {
        var loc: [String]
        var msg: String
        var type: String
    }

    enum Detail: Equatable {
        case message(String)
        case validation([Validation])
    }

    var error: String
    var detail: Detail
    var body = ""
    var errors: String

    enum CodingKeys: String, CodingKey {
        case error, detail, body, errors
    }

    init(_ serverError: ServerError) {
        errors = serverError.description
        switch serverError {
        case .invalidField(let field, _), .unsupported(let field, _):
            error = "RequestValidationError"
            let location = ["body"] + (field.map { $0.split(separator: ".").map(String.init) } ?? [])
            detail = .validation([Validation(loc: location, msg: errors, type: "value_error")])
        case .unknownModel(let name):
            error = "HTTPException"
            errors = "Model not found: '\(name.prefix(100))' (GET /sdapi/v1/sd-models lists them)"
            detail = .message(errors)
        default:
            error = "HTTPException"
            detail = .message(errors)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(error, forKey: .error)
        switch detail {
        case .message(let text): try c.encode(text, forKey: .detail)
        case .validation(let items): try c.encode(items, forKey: .detail)
        }
        try c.encode(body, forKey: .body)
        try c.encode(errors, forKey: .errors)
    }

    /// The response: FastAPI's 422 for a refused field, the server's status otherwise.
    func response(for serverError: ServerError) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        switch serverError {
        case .queueFull(let retryAfter), .tooManyConnections(let retryAfter): headers[.retryAfter] = String(retryAfter)
        default: break
        }
        let status: HTTPResponse.Status
        switch serverError {
        case .invalidField, .unsupported: status = .unprocessableContent
        default: status = serverError.status
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONResponse.bytes(self))))
    }
}
