import Foundation
import HTTPKit
import Hummingbird
import HummingbirdWebSocket
import Logging
import StatusAPI
import Store

/// The request context of WebSocket upgrades: the caller (bearer auth, as on every route) and hummingbird-websocket's
/// handler slot.
struct StatusSocketContext: RequestContext, WebSocketRequestContext, AuthenticatedRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<StatusSocketContext>
    var authentication: Authentication = .anonymous

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
    }
}

/// `GET /api/videos/{video_id}/ws`: the same status messages as the SSE `/stream` (one JSON text frame per change,
/// from `StatusFeed.Video`) until the job is ready or failed, then a normal close. `GET /api/ws` (a bearer token):
/// the status answer of each of the caller's videos (every video for an admin) whenever its state or phase changes
/// (`StatusFeed.Changes`), until the client leaves. A refused handshake (bad or unknown id, no or bad token) is a
/// 400; without `Upgrade: websocket` the same URLs answer JSON errors, or 426 for a request that would have been
/// accepted.
enum WebSocketRoutes {
    /// The upgrade router (hummingbird-websocket tries it for requests that ask to upgrade).
    static func router(store: StatusStore, logger: Logger) -> Router<StatusSocketContext> {
        let router = Router(context: StatusSocketContext.self)
        router.add(middleware: BearerAuthMiddleware(users: UserDirectory(db: store.db)))
        addVideoSocket(to: router, store: store)
        addChangesSocket(to: router) { user in StatusFeed.Changes(store: store) { row in user.isAdmin || user.owns(row) } }
        return router
    }

    /// `GET /api/ws` on `router`: `feed` makes the caller's feed of changes (the SQLite poller, or the shared store's).
    static func addChangesSocket<Feed: StatusFeedSource>(to router: Router<StatusSocketContext>,
                                                        feed: @escaping @Sendable (UserRow) -> Feed) {
        router.ws("/api/ws", shouldUpgrade: { _, context in
            _ = try context.requireUser()
            return .upgrade([:])
        }, onUpgrade: { inbound, outbound, context in
            let user = try context.requestContext.requireUser()
            try await pump(feed(user), inbound: inbound, outbound: outbound)
        })
    }

    /// `GET /api/videos/{video_id}/ws` on `router`, fed by `store` (the SQLite reader, or the shared PostgreSQL store).
    static func addVideoSocket(to router: Router<StatusSocketContext>, store: some StatusFeedStore) {
        router.ws("/api/videos/{video_id}/ws", shouldUpgrade: { _, context in
            let id = try APIError.validateID(try context.parameters.require("video_id"))
            guard try await store.video(id) != nil else { throw APIError.notFound(id) }
            return .upgrade([:])
        }, onUpgrade: { inbound, outbound, context in
            let id = try APIError.validateID(try context.requestContext.parameters.require("video_id"))
            guard let first = try await store.video(id) else { return }
            try await pump(StatusFeed.Video(id: id, first: first, store: store), inbound: inbound, outbound: outbound)
        })
    }

    /// The same paths on the plain HTTP router, for requests without `Upgrade: websocket` (and for the route table
    /// that is checked against `openapi.yaml`).
    static func registerPlainHTTP(on router: Router<APIRequestContext>, store: some StatusFeedStore) {
        router.get("/api/videos/{video_id}/ws") { _, context -> Response in
            let id = try APIError.validateID(try context.parameters.require("video_id"))
            guard try await store.video(id) != nil else { throw APIError.notFound(id) }
            throw upgradeRequired("/api/videos/\(id)/ws")
        }
        router.get("/api/ws") { _, context -> Response in
            _ = try context.requireUser()
            throw upgradeRequired("/api/ws")
        }
    }

    private static func upgradeRequired(_ path: String) -> APIError {
        APIError(.upgradeRequired, "upgrade_required", "\(path) is a WebSocket: connect with Upgrade: websocket",
                 headers: [.upgrade: "websocket", .connection: "Upgrade"])
    }

    /// Sends what `next` yields as JSON text frames while draining the client's frames (so its close and pings are
    /// answered); returns when the feed ends or the client leaves.
    private static func pump(_ feed: some StatusFeedSource, inbound: WebSocketInboundStream,
                             outbound: WebSocketOutboundWriter) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await _ in inbound.messages(maxSize: 4096) {}
            }
            group.addTask {
                var feed = feed
                while let changes = try await feed.next() {
                    for status in changes {
                        try await outbound.write(.text(String(decoding: try JSONEncoder.api.encode(status), as: UTF8.self)))
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
