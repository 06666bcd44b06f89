import Hummingbird
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// A request context that keeps the connection's channel. Hummingbird never answers `Expect: 100-continue`, and
/// route handlers never see the response writer, so the receiver writes the interim `100 Continue` head to the
/// channel itself, after it has checked auth and limits. HTTP/1 only (an HTTP/2 stream channel has another pipeline).
public protocol ChannelRequestContext: RequestContext {
    var channel: any Channel { get }
}

extension ChannelRequestContext {
    /// Tells a client that waits for `100 Continue` to send its body; a no-op for clients that did not ask.
    public func sendContinueIfExpected(_ request: Request) async throws {
        guard let expect = request.headers[.expect], expect.lowercased() == "100-continue" else { return }
        try await channel.writeAndFlush(HTTPResponsePart.head(HTTPResponse(status: .continue)))
    }
}
