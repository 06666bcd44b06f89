import Hummingbird

/// Tells the memory trimmer while requests are in flight, so it trims only once the API has been quiet. An
/// upload's body is read inside its handler, so a whole upload counts.
struct ActivityMiddleware<Context: RequestContext>: RouterMiddleware {
    let trimmer: MemoryTrimmer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        trimmer.begin()
        defer { trimmer.end() }
        return try await next(request, context)
    }
}
