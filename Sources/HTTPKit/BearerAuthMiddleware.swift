import Hummingbird

/// Reads `Authorization: Bearer <token>` once per request and records the outcome in the context. It never refuses
/// a request itself: routes that need no token (a video's status, as in the seed) ignore a bad one, and routes that
/// need one ask `context.requireUploader()` / `requireAdmin()`, which throw the recorded 401 or a 403.
public struct BearerAuthMiddleware<Context: AuthenticatedRequestContext>: RouterMiddleware {
    let users: UserDirectory

    public init(users: UserDirectory) { self.users = users }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.authentication = try await users.authentication(for: request.headers[.authorization])
        return try await next(request, context)
    }
}
