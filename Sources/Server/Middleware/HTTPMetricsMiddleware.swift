import Hummingbird

/// Counts every answered request by route pattern, method and status. It sits outside the error
/// middleware, so refused requests (400, 401, 404, 429, ...) are counted with the status they got.
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            metrics.requestAnswered(route: context.endpointPath ?? "NotFound", method: request.method.rawValue, status: response.status.code)
            return response
        } catch {
            // Only errors the error middleware let through arrive here; Hummingbird answers them.
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.requestAnswered(route: context.endpointPath ?? "NotFound", method: request.method.rawValue, status: status)
            throw error
        }
    }
}
