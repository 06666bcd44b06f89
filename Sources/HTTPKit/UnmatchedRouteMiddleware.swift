import Hummingbird

/// Turns the router's bare 404 for an unmatched request into the contract's JSON error, and into 405 (with
/// `Allow`) when the path exists under other methods of the router's own routes (`RouteTable`).
public struct UnmatchedRouteMiddleware<Context: RequestContext>: RouterMiddleware {
    let table: RouteTable

    public init(routes: RouteTable) { table = routes }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && Self.isUnmatched(context) {
            throw answer(request)
        }
        if response.status == .notFound && Self.isUnmatched(context) { throw answer(request) }
        return response
    }

    /// The router names its fallback responder's endpoint "NotFound"; the file server names its hits "FileMiddleware".
    static func isUnmatched(_ context: Context) -> Bool {
        context.endpointPath == nil || context.endpointPath == "NotFound"
    }

    func answer(_ request: Request) -> APIError {
        let allowed = Self.allowedMethods(request.uri.path, routes: table.routes)
        if allowed.isEmpty {
            return APIError(.notFound, "not_found", "no route for \(request.method.rawValue) \(request.uri.path.prefix(200))")
        }
        return APIError(.methodNotAllowed, "method_not_allowed", "\(request.uri.path.prefix(200)) allows \(allowed.joined(separator: ", "))",
                        headers: [.allow: allowed.joined(separator: ", ")])
    }

    /// Methods of the most specific route for `path` (a literal segment beats a `{parameter}`); a trailing slash
    /// does not matter, as the router treats both spellings alike.
    static func allowedMethods(_ path: String, routes: [RouteTable.Route]) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        let hits = routes.filter { matches(template: $0.path, parts) }
        let fewestParameters = hits.map { $0.path.filter { $0 == "{" }.count }.min()
        var methods: [String] = []
        for hit in hits where hit.path.filter({ $0 == "{" }).count == fewestParameters && !methods.contains(hit.method) {
            methods.append(hit.method)
        }
        return methods
    }

    static func matches(template: String, _ path: [Substring]) -> Bool {
        let parts = template.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == path.count else { return false }
        return zip(parts, path).allSatisfy { t, p in t.hasPrefix("{") || t == p }
    }
}
