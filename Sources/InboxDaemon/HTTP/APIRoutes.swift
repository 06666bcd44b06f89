import HTTPKit
import Hummingbird
import NIOPosix
import StatusAPI

/// Every route the daemon's listener serves, registered in one place so the tests check the same router the daemon
/// runs (against `openapi.yaml`, and in process). Records the routes in `table` for the 405 answers.
enum APIRoutes {
    static func register(
        on router: Router<APIRequestContext>, table: RouteTable, statusStore: StatusStore, metrics: InboxMetrics, receiver: Receiver,
        assets: WebAssets
    ) {
        StatusRoutes.register(on: router, store: statusStore)
        VideoListRoutes.register(on: router, store: statusStore)
        StatsRoutes.register(on: router, store: statusStore)
        EventRoutes.register(on: router, store: statusStore)
        EventStreamRoutes.register(on: router, store: statusStore)
        WebSocketRoutes.registerPlainHTTP(on: router, store: statusStore)
        metrics.register(on: router, store: statusStore)
        OpenAPIDocument.register(on: router)
        WatchRoutes.register(on: router, store: statusStore, users: UserDirectory(db: statusStore.db), assets: assets)
        receiver.addRoutes(to: router)
        table.record(router)
    }
}
