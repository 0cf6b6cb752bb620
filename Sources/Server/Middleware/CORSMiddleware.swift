import Hummingbird

/// sd-api-server's permissive CORS: `*` origin, methods and headers on every response, and
/// `OPTIONS` on any path answered 200 with an empty body before authentication (browsers send
/// preflights without credentials). A preflight's requested headers are echoed because the `*`
/// wildcard does not cover `Authorization`.
struct CORSMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .options {
            var response = Response(status: .ok, body: .init())
            addHeaders(&response.headers)
            if let requested = request.headers[.accessControlRequestHeaders], !requested.isEmpty {
                response.headers[.accessControlAllowHeaders] = requested
            }
            response.headers[.contentLength] = "0"
            return response
        }
        var response = try await next(request, context)
        addHeaders(&response.headers)
        return response
    }

    private func addHeaders(_ headers: inout HTTPFields) {
        headers[.accessControlAllowOrigin] = "*"
        headers[.accessControlAllowMethods] = "*"
        headers[.accessControlAllowHeaders] = "*"
    }
}
