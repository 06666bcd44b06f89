import NIOCore
import NIOHTTP1
import Synchronization

/// The server's open connections, shared by every connection's `ConnectionGuardHandler`. At the limit, a new
/// connection evicts the connection that has waited longest for a request head (an idle keep-alive or a
/// slowloris client) instead of being refused, so clients that actually send requests keep getting in.
final class ConnectionCounter: Sendable {
    let limit: Int
    private struct State {
        var open = 0
        var sequence: UInt64 = 0
        /// Connections waiting for a request head, with the order they started waiting in.
        var waiting: [ObjectIdentifier: (since: UInt64, channel: any Channel)] = [:]
    }
    private let state = Mutex(State())

    init(limit: Int) { self.limit = limit }

    /// false when the limit is reached and no connection could make room (the caller closes the new one).
    func admit() -> Bool {
        let evicted: (any Channel)? = state.withLock { s in
            if s.open < limit {
                s.open += 1
                return nil
            }
            guard let oldest = s.waiting.min(by: { $0.value.since < $1.value.since }) else { return nil }
            s.waiting[oldest.key] = nil
            s.open += 1  // the evicted one releases its slot when its handler is removed
            return oldest.value.channel
        }
        if let evicted {
            evicted.close(promise: nil)
            return true
        }
        return state.withLock { $0.open <= limit }
    }

    func waitingForRequest(_ channel: any Channel) {
        state.withLock { s in
            s.sequence += 1
            s.waiting[ObjectIdentifier(channel)] = (s.sequence, channel)
        }
    }

    func busy(_ channel: any Channel) {
        _ = state.withLock { $0.waiting.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func release(_ channel: any Channel) {
        state.withLock { s in
            s.waiting[ObjectIdentifier(channel)] = nil
            s.open -= 1
        }
    }
}

/// Cuts off clients that hold a connection without using it, so slow or idle clients cannot pin every descriptor
/// (slowloris): the request head must arrive within `header_timeout_seconds` of connecting, or within
/// `idle_timeout_seconds` of the previous answer; a request body must keep moving at `min_body_bytes_per_second`
/// over each `body_timeout_seconds` window. While the server is answering (a transcode-long SSE stream included)
/// nothing is timed. Past `max_connections`, see `ConnectionCounter`.
///
/// It sits right after NIO's HTTP/1 decoder, in front of the WebSocket upgrade handler (`GuardedHTTPChannel`), so it
/// times the very first request head too. A connection upgraded to a WebSocket (a `101` answer) leaves the guard
/// and its count: from then on WebSocket pings keep it alive or end it.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let limits: HTTPLimits
    private let counter: ConnectionCounter
    private var admitted = false
    private var timer: Scheduled<Void>?
    private var readingBody = false
    private var bodyBytesInWindow = 0
    /// A `101 Switching Protocols` went out: the connection is a WebSocket now.
    private var upgraded = false

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
        counter.waitingForRequest(context.channel)
        arm(context, after: limits.headerTimeoutSeconds)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if admitted {
            admitted = false
            counter.release(context.channel)
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
            counter.busy(context.channel)
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
        if case .head(let head) = unwrapOutboundIn(data), head.status == .switchingProtocols {
            upgraded = true  // leaves at the flush that follows (a removed handler would swallow that flush)
        }
        if case .end = unwrapOutboundIn(data), !readingBody {
            counter.waitingForRequest(context.channel)
            arm(context, after: limits.idleTimeoutSeconds)  // waiting for the next request on a keep-alive connection
        }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
        if upgraded {
            timer?.cancel()
            timer = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
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
