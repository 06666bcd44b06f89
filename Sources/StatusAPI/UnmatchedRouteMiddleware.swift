import Hummingbird

/// Turns the router's bare 404 for an unmatched request into the contract's JSON error, and into 405 (with
/// `Allow`) when the path exists under other methods.
public struct UnmatchedRouteMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && context.endpointPath == nil {
            let path = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
            let allowed = OpenAPIDocument.routes.filter { Self.matches(template: $0.path, path) }.map(\.method)
            if allowed.isEmpty {
                throw APIError(.notFound, "not_found", "no route for \(request.method.rawValue) \(request.uri.path.prefix(200))")
            }
            throw APIError(.methodNotAllowed, "method_not_allowed", "\(request.uri.path.prefix(200)) allows \(allowed.joined(separator: ", "))",
                           headers: [.allow: allowed.joined(separator: ", ")])
        }
    }

    static func matches(template: String, _ path: [Substring]) -> Bool {
        let parts = template.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == path.count else { return false }
        return zip(parts, path).allSatisfy { t, p in t.hasPrefix("{") || t == p }
    }
}
