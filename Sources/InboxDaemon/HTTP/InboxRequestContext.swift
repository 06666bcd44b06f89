import Hummingbird
import Logging
import NIOCore

/// Per-request data. Keeps the channel so the receiver can answer `Expect: 100-continue` itself after its
/// auth and size checks (Hummingbird does not; see notes/HTTP.md).
struct InboxRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
