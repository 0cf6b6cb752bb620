import Hummingbird

/// Answers 405 for the methods a known path does not take (instead of a misleading 404).
enum MethodGuard {
    static let methods: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .head]

    static func refuse(on router: Router<ServerRequestContext>, path: String, allowing allowed: [HTTPRequest.Method]) {
        for method in methods where !allowed.contains(method) {
            router.on(RouterPath(path), method: method) { request, _ -> Response in
                throw ServerError.methodNotAllowed(method: method.rawValue, path: request.uri.path)
            }
        }
    }
}
