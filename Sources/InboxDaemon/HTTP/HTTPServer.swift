import Hummingbird
import Logging
import StatusAPI

/// The daemon's one HTTP listener: status API, receiver and (with local publishing) the output files.
enum HTTPServer {
    static func make(config: Config, statusStore: StatusStore, logger: Logger) -> some ApplicationProtocol {
        let router = Router(context: InboxRequestContext.self)
        if config.s3 == nil {
            router.add(middleware: FileMiddleware(config.output, urlBasePath: nil, searchForIndexHtml: false, logger: logger)
                .withAdditionalMediaTypes(forFileExtensions: [
                    "m3u8": MediaType(type: .application, subType: "vnd.apple.mpegurl"),
                    "ts": MediaType(type: .video, subType: "mp2t"),
                    "m4s": MediaType(type: .video, subType: "iso.segment"),
                ]))
        }
        StatusRoutes.register(on: router, store: statusStore)
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "inboxd"),
            logger: logger)
    }
}
