import Foundation
import Hummingbird
import Logging
import NIOCore

/// Per-request data. Keeps the channel so the receiver can answer `Expect: 100-continue` itself after its
/// auth and size checks (Hummingbird 2 never answers it, so curl would wait 1 s before every upload).
struct InboxRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    /// Stable key order and readable URLs (see `JSONEncoder.api`).
    var responseEncoder: JSONEncoder { .api }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
