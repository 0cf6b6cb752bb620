import Foundation
import Hummingbird

/// With an API key set, every request but `GET /health` and `GET /metrics` (load balancers and
/// Prometheus scrapers are simplest to run without the key), the web page's files (which ask for
/// the key themselves) and CORS preflights (answered before this) needs `Authorization: Bearer
/// <key>`; a missing header is refused too (sd-api-server let it through). A1111 clients send
/// `--api-auth` credentials as HTTP Basic (`user:password`): those pass when the password, or the
/// whole `user:password`, is the key. The key is compared in constant time and never logged.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let apiKey: String
    /// Paths served to anyone (the web page's static files).
    var publicPaths: Set<String> = []
    static var openPaths: Set<String> { ["/health", "/metrics"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.openPaths.contains(request.uri.path) || (request.method == .get && publicPaths.contains(request.uri.path)) {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], !header.isEmpty else {
            throw ServerError.unauthorized("Unauthorized: missing API key (Authorization: Bearer <key>)")
        }
        let parts = header.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, accepts(scheme: parts[0].lowercased(), credentials: parts[1]) else {
            throw ServerError.unauthorized("Unauthorized: Invalid API key.")
        }
        return try await next(request, context)
    }

    private func accepts(scheme: String, credentials: Substring) -> Bool {
        let key = Array(apiKey.utf8)
        switch scheme {
        case "bearer":
            return Self.constantTimeEqual(Array(credentials.utf8), key)
        case "basic":
            guard let decoded = Data(base64Encoded: String(credentials)) else { return false }
            let pair = [UInt8](decoded)
            let password = pair.firstIndex(of: UInt8(ascii: ":")).map { Array(pair[($0 + 1)...]) } ?? []
            // Both compared, so the time does not tell which form matched.
            let byPassword = Self.constantTimeEqual(password, key), byPair = Self.constantTimeEqual(pair, key)
            return byPassword || byPair
        default:
            return false
        }
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
