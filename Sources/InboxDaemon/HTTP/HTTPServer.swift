import HTTPKit
import Hummingbird
import Pipeline
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOPosix
import ServiceLifecycle
import StatusAPI

/// The daemon's one HTTP listener: status API, receiver and (with local publishing) the output files.
enum HTTPServer {
    static func make(
        config: Config, statusStore: StatusStore, jobStore: JobStore, metrics: InboxMetrics, io: BlockingIO,
        resumable: ResumableUploads, assets: WebAssets, trimmer: MemoryTrimmer?, pressure: APIPressure? = nil, logger: Logger,
        onListening: @escaping @Sendable () -> Void = {}
    ) -> some ApplicationProtocol {
        let router = Router(context: APIRequestContext.self)
        let routes = RouteTable()
        // Outermost first: request ids see every answer; CORS answers preflights before metrics, auth and routing, and
        // decorates the rest (thrown errors included, which metrics still count as errors); JSON 404/405 wrap the file
        // server's misses.
        router.add(middleware: RequestIDMiddleware())
        if trimmer != nil || pressure != nil { router.add(middleware: ActivityMiddleware(trimmer: trimmer, pressure: pressure)) }
        router.add(middleware: CORSMiddleware(policy: CORSPolicy(origins: config.corsOrigins)))
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: BearerAuthMiddleware(users: UserDirectory(db: statusStore.db)))
        router.add(middleware: UnmatchedRouteMiddleware(routes: routes))
        router.add(middleware: PathGuardMiddleware())
        if config.s3 == nil {
            router.add(middleware: publishedFiles(config.output, logger: logger))
        }
        let receiver = Receiver(
            incoming: InboxLayout(root: config.inbox).incoming,
            limits: ReceiverLimits(maxUploadBytes: config.maxUploadBytes, minFreeBytes: config.minFreeBytes),
            journal: jobStore, pool: io.pool, resumable: resumable, userLimits: config.limits,
            notifyURLRefusal: { [webhooks = config.webhooks, allow = config.urlIngest.allow] in webhooks.notifyURLRefusal($0, allow: allow) })
        APIRoutes.register(on: router, table: routes, statusStore: statusStore, metrics: metrics, receiver: receiver, assets: assets)
        let server = serverBuilder(limits: config.http, sockets: WebSocketRoutes.router(store: statusStore, logger: logger))
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "inboxd"),
            onServerRunning: { _ in onListening() },
            logger: logger)
    }
}

extension HTTPServer {
    /// Local publishing's files (`output`), with the HLS media types; the routes' 404s fall through to them.
    static func publishedFiles<Context: RequestContext>(_ output: String, logger: Logger) -> FileMiddleware<Context, LocalFileSystem> {
        FileMiddleware(output, urlBasePath: nil, searchForIndexHtml: false, logger: logger)
            .withAdditionalMediaTypes(forFileExtensions: [
                "m3u8": MediaType(type: .application, subType: "vnd.apple.mpegurl"),
                "ts": MediaType(type: .video, subType: "mp2t"),
                "m4s": MediaType(type: .video, subType: "iso.segment"),
            ])
    }

    /// HTTP/1 with WebSocket upgrades to `sockets`, behind the connection guard (limits and timeouts of `[http]`).
    static func serverBuilder(limits: HTTPLimits, sockets: Router<StatusSocketContext>) -> HTTPServerBuilder {
        let counter = ConnectionCounter(limit: limits.maxConnections)
        let responder = sockets.buildResponder()
        return HTTPServerBuilder { http in
            GuardedHTTPChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: http, webSocketResponder: responder,
                    configuration: .init(http1: .init(additionalChannelHandlers: [CloseAfterResponseHandler()]),
                                         ws: .init(autoPing: .enabled(timePeriod: .seconds(30))))),
                makeGuard: { ConnectionGuardHandler(limits: limits, counter: counter) })
        }
    }
}

/// The HTTP server as a service whose failure to start says which address and why, in one sentence.
struct HTTPService<App: ApplicationProtocol>: Service {
    let app: App
    let address: ListenAddress

    func run() async throws {
        do {
            try await app.run()
        } catch {
            throw StartupError.listen(error, address: address.description) ?? error
        }
    }
}
