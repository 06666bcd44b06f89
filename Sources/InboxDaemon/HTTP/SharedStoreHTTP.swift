import Foundation
import HTTPKit
import Hummingbird
import Pipeline
import Logging
import StatusAPI

/// The HTTP surface of a node on the shared PostgreSQL store (`[store] url`): the per-job status routes — `/healthz`
/// (naming the node), `/status`, the whole row, the audit log, SSE `/stream` and WebSocket `/ws`, `/metrics` — read from the
/// shared store, so every node answers for every job, and its live feeds are woken by the NOTIFY of whichever node
/// wrote; bearer tokens checked against the shared `users` table; the watch page; local publishing's files from the
/// shared output dir; the receiver's one-request uploads (multipart, raw PUT, URL ingest), whose row goes to the
/// shared store and whose drop lands in the shared inbox for any node to claim; resumable (tus) uploads, whose row is
/// in the shared store and whose bytes are in the shared inbox's upload area, so a client may send each PATCH to a
/// different node and resume on any; the admins' job list and stats; the all-jobs WebSocket `/api/ws` (`SharedChanges`).
enum SharedStoreHTTP {
    static func make(config: Config, store: PGJobStore, metrics: InboxMetrics, assets: WebAssets, io: BlockingIO,
                     resumable: ResumableUploads, trimmer: MemoryTrimmer?, pressure: APIPressure? = nil, logger: Logger, onListening: @escaping @Sendable () -> Void = {}) -> some ApplicationProtocol {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        if trimmer != nil || pressure != nil { router.add(middleware: ActivityMiddleware(trimmer: trimmer, pressure: pressure)) }
        router.add(middleware: CORSMiddleware(policy: CORSPolicy(origins: config.corsOrigins)))
        router.add(middleware: MetricsMiddleware())
        let users = UserDirectory(lookup: store)
        router.add(middleware: BearerAuthMiddleware(users: users))
        router.add(middleware: PathGuardMiddleware())
        if config.s3 == nil { router.add(middleware: HTTPServer.publishedFiles(config.output, logger: logger)) }
        metrics.register(on: router, node: store.node) { after in try await store.metricsSnapshot(afterEvent: after) }
        StatusRoutes.register(on: router, store: store, health: ["node": store.node])
        VideoListRoutes.register(on: router, store: store)
        StatsRoutes.register(on: router, store: store)
        EventRoutes.register(on: router, store: store)
        EventStreamRoutes.register(on: router, store: store)
        OpenAPIDocument.register(on: router)
        WatchRoutes.register(on: router, store: store, users: users, assets: assets)
        let receiver = Receiver(
            incoming: InboxLayout(root: config.inbox).incoming,
            limits: ReceiverLimits(maxUploadBytes: config.maxUploadBytes, minFreeBytes: config.minFreeBytes),
            journal: store, pool: io.pool, resumable: resumable, userLimits: config.limits,
            notifyURLRefusal: { [webhooks = config.webhooks, allow = config.urlIngest.allow] in webhooks.notifyURLRefusal($0, allow: allow) })
        receiver.addRoutes(to: router)
        WebSocketRoutes.registerPlainHTTP(on: router, store: store)
        let sockets = Router(context: StatusSocketContext.self)
        sockets.add(middleware: BearerAuthMiddleware(users: users))
        WebSocketRoutes.addVideoSocket(to: sockets, store: store)
        WebSocketRoutes.addChangesSocket(to: sockets) { user in
            SharedChanges(store: store) { row in user.isAdmin || user.owns(row) }
        }
        return Application(
            router: router,
            server: HTTPServer.serverBuilder(limits: config.http, sockets: sockets),
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "inboxd"),
            onServerRunning: { _ in onListening() },
            logger: logger)
    }
}
