import Hummingbird
import HTTPKit

/// Refuses request paths that no file or route may carry, before any of them is looked at: a NUL byte (which C
/// APIs would cut the path at, so `master.m3u8%00.jpg` would be served as a JPEG), and `..` segments (traversal).
/// Both get the contract's JSON 400 instead of the file server's empty one. A path without `%` is checked as it
/// is: Foundation's percent-decoding goes through UTF-16 and cost every request a measurable share of a poll.
struct PathGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let raw = request.uri.path
        let decoded = raw.utf8.contains(UInt8(ascii: "%")) ? raw.removingPercentEncoding ?? raw : raw
        if decoded.utf8.contains(0) || raw.utf8.contains(0) {
            throw APIError(.badRequest, "bad_path", "the request path contains a NUL byte")
        }
        let segments = decoded.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if segments.contains(where: { $0.elementsEqual("..".utf8) }) {
            throw APIError(.badRequest, "bad_path", "the request path contains a '..' segment")
        }
        return try await next(request, context)
    }
}
