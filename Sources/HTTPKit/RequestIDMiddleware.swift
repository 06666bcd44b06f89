import HTTPTypes
import Hummingbird
import Synchronization

/// Gives every request an id: the client's `X-Request-Id` when it sent a sane one, else a new one
/// (`RequestIDMiddleware.newID`). The id is in the request's log metadata (`request.id`) and echoed in the response, so
/// a client's report can be matched to logs.
public struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = request.headers[.xRequestID].flatMap { Self.isSane($0) ? $0 : nil } ?? Self.newID()
        var context = context
        context.logger[metadataKey: "request.id"] = .string(id)
        do {
            var response = try await next(request, context)
            response.headers[.xRequestID] = id
            return response
        } catch let error as HTTPResponseError {
            var response = try error.response(from: request, context: context)
            response.headers[.xRequestID] = id
            return response
        }
    }

    /// `<16 hex digits drawn at start>-<counter in hex>`: unique within a run (the counter) and across restarts (the
    /// prefix). Not a UUID: a random UUID per request read 16 random bytes and formatted them through `sprintf` and
    /// `lowercased()`, a measurable share of the cost of a `/status` poll.
    static func newID() -> String {
        RequestIDs.prefix + String(RequestIDs.counter.add(1, ordering: .relaxed).newValue, radix: 16)
    }

    /// Printable ASCII, at most 128 bytes: the id ends up in logs and headers verbatim.
    static func isSane(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.utf8.allSatisfy { $0 > 32 && $0 < 127 }
    }
}

private enum RequestIDs {
    static let prefix = String(UInt64.random(in: 1 << 60 ... .max), radix: 16) + "-"
    static let counter = Atomic<UInt64>(0)
}

extension HTTPField.Name {
    /// Made once: `HTTPField.Name(_:)` validates and lower-cases its text, twice a request here.
    public static let xRequestID = HTTPField.Name("X-Request-Id")!
}
