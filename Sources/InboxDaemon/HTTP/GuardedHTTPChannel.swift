import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// HTTP/1 with WebSocket upgrades (hummingbird-websocket's `HTTP1WebSocketUpgradeChannel`), with the connection guard
/// put in front of the upgrade handler. Hummingbird adds `additionalChannelHandlers` only once a request turned out
/// not to be an upgrade, which would leave the first request head of every connection untimed (slowloris); here
/// the guard sees every connection from its first byte.
struct GuardedHTTPChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value

    let inner: HTTP1WebSocketUpgradeChannel
    let makeGuard: @Sendable () -> ConnectionGuardHandler

    /// Socket reads of up to 512 KiB once a connection streams (NIO's default stops at 64 KiB): a 1 GiB upload
    /// arrives in an eighth of the reads, body parts and hops to the handler task. The allocator grows only
    /// while reads fill the buffer, so quiet connections keep small buffers; at most ten body parts wait in the
    /// request's stream (its back-pressure watermarks), so a connection holds about 5 MiB at most. 1 MiB reads were
    /// no faster and raised an upload's peak RSS past 64 MiB.
    static let recvAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 512 << 10)

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let makeGuard = self.makeGuard
        do {
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.recvAllocator)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let upgrader = try pipeline.handler(type: NIOTypedHTTPServerUpgradeHandler<HTTP1WebSocketUpgradeChannel.UpgradeResult>.self)
            try pipeline.addHandler(makeGuard(), position: .before(upgrader))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
