import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Counts the server's open connections, shared by every connection's `ConnectionGuardHandler`.
final class ConnectionCounter: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// false when the limit is reached (the caller closes the connection).
    func admit() -> Bool {
        if open.add(1, ordering: .relaxed).newValue <= limit { return true }
        open.subtract(1, ordering: .relaxed)
        return false
    }

    func release() { open.subtract(1, ordering: .relaxed) }

    var current: Int { open.load(ordering: .relaxed) }
}

/// Cuts off clients that hold a connection without using it, so slow or idle clients cannot pin every descriptor
/// (slowloris): the request head must arrive within `header_timeout_seconds` of connecting, or within
/// `idle_timeout_seconds` of the previous answer; a request body must keep moving at `min_body_bytes_per_second`
/// over each `body_timeout_seconds` window. While the server is answering (a transcode-long SSE stream included)
/// nothing is timed. Past `max_connections`, a new connection is closed at once.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: HTTPLimits
    private let counter: ConnectionCounter
    private var admitted = false
    private var timer: Scheduled<Void>?
    private var readingBody = false
    private var bodyBytesInWindow = 0

    init(limits: HTTPLimits, counter: ConnectionCounter) {
        self.limits = limits
        self.counter = counter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard counter.admit() else {
            context.close(promise: nil)
            return
        }
        admitted = true
        arm(context, after: limits.headerTimeoutSeconds)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if admitted {
            admitted = false
            counter.release()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            readingBody = true
            bodyBytesInWindow = 0
            armBodyWindow(context)
        case .body(let chunk):
            bodyBytesInWindow += chunk.readableBytes
        case .end:
            readingBody = false
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), !readingBody {
            arm(context, after: limits.idleTimeoutSeconds)  // waiting for the next request on a keep-alive connection
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, after seconds: Double) {
        timer?.cancel()
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
            context.close(promise: nil)
        }
    }

    private func armBodyWindow(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let window = limits.bodyTimeoutSeconds
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .milliseconds(Int64(window * 1000))) {
            guard self.readingBody else { return }
            if Double(self.bodyBytesInWindow) < Double(self.limits.minBodyBytesPerSecond) * window {
                context.close(promise: nil)
            } else {
                self.bodyBytesInWindow = 0
                self.armBodyWindow(context)
            }
        }
    }
}
