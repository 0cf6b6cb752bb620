import Hummingbird
import Logging

/// Turns every error below it into OpenAI's JSON error shape through `ServerError+HTTP`, and
/// refuses bodies whose declared length is over the limit before reading them (413).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBodySize: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodySize {
                throw ServerError.bodyTooLarge(limit: maxBodySize)
            }
            return try await next(request, context)
        } catch {
            var serverError = ServerError(error)
            switch serverError {
            case .bodyTooLarge: serverError = .bodyTooLarge(limit: maxBodySize)
            case .notFound where isRouteMiss(error): serverError = .notFound("The requested service endpoint is not found: \(request.uri.path.prefix(200))")
            case .internalError: context.logger.error("request failed", metadata: ["error": "\(error)"])
            default: break
            }
            return serverError.response()
        }
    }

    private func isRouteMiss(_ error: any Error) -> Bool {
        (error as? HTTPError)?.status == .notFound
    }
}
