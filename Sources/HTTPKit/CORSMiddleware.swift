import Hummingbird

/// Lets pages from the configured origins (`CORSPolicy`) read every answer, streams and served files included, and
/// answers their preflights itself, before auth and routing: a preflight carries no credentials, and routes need
/// no `OPTIONS` of their own (so `UnmatchedRouteMiddleware` never turns one into a 405). Other origins get no
/// `Access-Control-*` header, and their preflights a JSON 403.
public struct CORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: CORSPolicy

    public init(policy: CORSPolicy) { self.policy = policy }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard policy.isEnabled else { return try await next(request, context) }
        let origin = request.headers[.origin]
        let allowed = origin.map(policy.allows) ?? false
        if request.method == .options, let origin, request.headers[.accessControlRequestMethod] != nil {
            guard allowed else {
                throw APIError(.forbidden, "cors_origin_not_allowed", "origin \(origin.prefix(200)) is not in cors_origins",
                               headers: [.vary: "Origin"])
            }
            var response = Response(status: .noContent, headers: [
                .accessControlAllowMethods: CORSPolicy.allowedMethods,
                .accessControlAllowHeaders: CORSPolicy.allowedHeaders,
                .accessControlMaxAge: String(CORSPolicy.maxAgeSeconds),
            ])
            decorate(&response, origin: origin)
            return response
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        if allowed, let origin {
            decorate(&response, origin: origin)
        } else {
            response.headers[.vary] = "Origin"
        }
        return response
    }

    /// Echoes the origin (never `*`, so bearer-authenticated requests work too) and tells caches the answer depends on it.
    private func decorate(_ response: inout Response, origin: String) {
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlExposeHeaders] = CORSPolicy.exposedHeaders
        response.headers[.vary] = "Origin"
    }
}
