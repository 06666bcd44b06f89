import Hummingbird
import Pipeline

/// Counts requests for the two things that watch the API's activity: the memory trimmer, which trims only once the
/// API has been quiet (an upload's body is read inside its handler, so a whole upload counts), and the conversions'
/// yielding to a flood of requests (`APIPressure`, `convert_yield_rps`).
struct ActivityMiddleware<Context: RequestContext>: RouterMiddleware {
    let trimmer: MemoryTrimmer?
    let pressure: APIPressure?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        pressure?.noteRequest()
        guard let trimmer else { return try await next(request, context) }
        trimmer.begin()
        defer { trimmer.end() }
        return try await next(request, context)
    }
}
