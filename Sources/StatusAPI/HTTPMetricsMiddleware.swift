import Hummingbird

/// Counts every request by method, route template and status code (errors included) into `InboxMetrics`.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: InboxMetrics

    public init(metrics: InboxMetrics) { self.metrics = metrics }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            metrics.countRequest(method: request.method.rawValue, route: context.endpointPath ?? "unmatched",
                                 status: response.status.code, responseBytes: response.body.contentLength)
            return response
        } catch {
            let status = (error as? HTTPResponseError)?.status.code ?? 500
            metrics.countRequest(method: request.method.rawValue, route: context.endpointPath ?? "unmatched",
                                 status: status, responseBytes: nil)
            throw error
        }
    }
}
