import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes the connection once a response that says `Connection: close` has been written. Without it Hummingbird
/// reads and discards the rest of an unread request body to keep the connection alive, so a refused 1 GiB upload
/// (401, 413, …) would still be received in full. Same pattern as Hummingbird's own `HTTPConnectionStateHandler`.
///
/// The close lingers, as web servers' "lingering close" does: the sending side is shut first (the client gets the
/// answer and a FIN), reading stops (so nothing more of the body is received: the client's sends stall on a full
/// window), and the socket is closed `lingerSeconds` later. Closing at once while the client is still sending makes
/// the kernel answer with a reset, which can reach the client before it has read the 413 (curl then reports only
/// the `100 Continue`).
final class CloseAfterResponseHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let lingerSeconds: Int64 = 2
    private var closeAfterEnd = false
    private var lingering = false

    init() {}

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200:
            closeAfterEnd = head.headerFields[.connection]?.lowercased() == "close"
            context.write(data, promise: promise)
        case .end:
            if closeAfterEnd {
                closeAfterEnd = false
                lingering = true
                context.writeAndFlush(data, promise: promise)
                let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
                let closeOutput = context.eventLoop.makePromise(of: Void.self)
                context.close(mode: .output, promise: closeOutput)
                closeOutput.futureResult.assumeIsolatedUnsafeUnchecked().whenFailure { _ in
                    context.close(promise: nil)  // no half-closure on this channel: close at once
                }
                loop.scheduleTask(in: .seconds(Self.lingerSeconds)) { context.close(promise: nil) }
            } else {
                context.write(data, promise: promise)
            }
        default:
            context.write(data, promise: promise)
        }
    }

    /// While lingering, nothing more is read from the socket.
    func read(context: ChannelHandlerContext) {
        if !lingering { context.read() }
    }
}
