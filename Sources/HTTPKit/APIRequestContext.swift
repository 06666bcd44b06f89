import Foundation
import Hummingbird
import Logging
import NIOCore

/// Per-request data of every inboxd route: who is asking (`BearerAuthMiddleware` fills `authentication`), and the
/// connection's channel, so the receiver can answer `Expect: 100-continue` itself after its auth and size checks
/// (Hummingbird 2 never answers it, so curl would wait 1 s before every upload).
public struct APIRequestContext: AuthenticatedRequestContext, ChannelRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public var authentication: Authentication = .anonymous

    /// Stable key order and readable URLs (see `JSONEncoder.api`).
    public var responseEncoder: JSONEncoder { .api }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
