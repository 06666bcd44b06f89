import Hummingbird
import HTTPKit

/// Refuses request paths that no file or route may carry, before any of them is looked at: a NUL byte (which C
/// APIs would cut the path at, so `master.m3u8%00.jpg` would be served as a JPEG), and `..` segments (traversal).
/// Both get the contract's JSON 400 instead of the file server's empty one.
struct PathGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let raw = request.uri.path
        let decoded = raw.removingPercentEncoding ?? raw
        if decoded.utf8.contains(0) || raw.utf8.contains(0) {
            throw APIError(.badRequest, "bad_path", "the request path contains a NUL byte")
        }
        if decoded.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." }) {
            throw APIError(.badRequest, "bad_path", "the request path contains a '..' segment")
        }
        return try await next(request, context)
    }
}
