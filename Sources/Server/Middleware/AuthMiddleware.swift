import Hummingbird

/// With an API key set, every request but `GET /health` and `GET /metrics` (and CORS preflights,
/// answered before this) needs `Authorization: Bearer <key>`; a missing header is refused too (sd-api-server let
/// it through). The key is compared in constant time and never logged.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let apiKey: String
    /// For load balancers and Prometheus scrapers, which are simplest to run without the key.
    static var openPaths: Set<String> { ["/health", "/metrics"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization], !header.isEmpty else {
            throw ServerError.unauthorized("Unauthorized: missing API key (Authorization: Bearer <key>)")
        }
        let parts = header.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer", Self.constantTimeEqual(Array(parts[1].utf8), Array(apiKey.utf8)) else {
            throw ServerError.unauthorized("Unauthorized: Invalid API key.")
        }
        return try await next(request, context)
    }

    /// Equal length and bytes, in time that depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
