import Foundation
import HTTPKit
import Hummingbird
import Logging
import StatusAPI

/// The HTTP surface of a node on the shared PostgreSQL store (`[store] url`): the status routes clients poll, read
/// from the shared store so every node answers for every job. The rest of the API (lists, events, SSE/WebSocket,
/// `/metrics`, the receiver and its bearer tokens) is the SQLite store's for now and answers 501 with that reason.
enum SharedStoreHTTP {
    static func make(config: Config, store: PGJobStore, logger: Logger,
                     onListening: @escaping @Sendable () -> Void = {}) -> some ApplicationProtocol {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: CORSMiddleware(policy: CORSPolicy(origins: config.corsOrigins)))
        router.get("/healthz") { _, _ in
            _ = try await store.queueEntry("00000000-0000-0000-0000-000000000000")
            return ["status": "ok", "node": store.node]
        }
        router.get("/api/videos/{video_id}/status") { _, context -> StatusResponse in
            let id = try APIError.validateID(try context.parameters.require("video_id"))
            guard let row = try await store.row(id) else { throw APIError.notFound(id) }
            return StatusResponse(row)
        }
        for method in [HTTPRequest.Method.get, .post, .patch, .head, .delete, .put] {
            router.on("/**", method: method) { _, _ -> Response in
                throw APIError(.notImplemented, "not_implemented",
                               "this route is not available on the PostgreSQL store yet (only /healthz and /api/videos/{id}/status are)")
            }
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: "inboxd"),
            onServerRunning: { _ in onListening() },
            logger: logger)
    }
}
