import Foundation
import Hummingbird
import Logging
import NIOCore

/// Per-request data. Keeps the channel so the receiver can answer `Expect: 100-continue` itself after its
/// auth and size checks (Hummingbird does not; see notes/HTTP.md).
struct InboxRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    /// URLs in answers stay readable (`https://…`, not `https:\/\/…`).
    var responseEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
