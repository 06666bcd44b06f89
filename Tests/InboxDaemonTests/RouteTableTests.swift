import Foundation
import HTTPKit
import Hummingbird
import HummingbirdTesting
@testable import InboxDaemon
import NIOPosix
import StatusAPI
import Store
import Testing
import Yams

/// The daemon's router, exactly as `HTTPServer` registers it (`APIRoutes`), in process.
@Suite struct RouteTableTests {
    private func withRouter(_ body: (Router<APIRequestContext>, RouteTable) async throws -> Void) async throws {
        let dir = NSTemporaryDirectory() + "inboxd-router-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/incoming", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let jobStore = try JobStore(path: dir + "/inboxd.db")
        let statusStore = try StatusStore(path: dir + "/inboxd.db")
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let router = Router(context: APIRequestContext.self)
        let table = RouteTable()
        router.add(middleware: UnmatchedRouteMiddleware(routes: table))
        let receiver = Receiver(incoming: dir + "/incoming", limits: ReceiverLimits(maxUploadBytes: 1 << 20, minFreeBytes: 0),
                                journal: jobStore, pool: pool)
        APIRoutes.register(on: router, table: table, statusStore: statusStore, metrics: InboxMetrics(), receiver: receiver,
                           assets: WebAssets.load(directory: dir + "/web"))
        do { try await body(router, table) } catch {
            try await pool.shutdownGracefully()
            throw error
        }
        try await pool.shutdownGracefully()
    }

    /// Every (method, path) of `openapi.yaml`; the router treats `/api/videos/` as `/api/videos`.
    private func specRoutes() throws -> Set<RouteTable.Route> {
        let doc = try #require(try Yams.load(yaml: OpenAPIDocument.yaml) as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: Any])
        var routes = Set<RouteTable.Route>()
        for (path, item) in paths {
            let normalized = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
            for method in (item as? [String: Any] ?? [:]).keys where ["get", "put", "post", "delete", "patch", "head", "options"].contains(method) {
                routes.insert(.init(method: method.uppercased(), path: normalized))
            }
        }
        return routes
    }

    @Test func theSpecDescribesExactlyTheRoutesTheRouterServes() async throws {
        try await withRouter { _, table in
            let served = Set(table.routes)
            let described = try specRoutes()
            #expect(served == described, "only served: \(served.subtracting(described)); only described: \(described.subtracting(served))")
        }
    }

    @Test func aKnownPathWithAnotherMethodIs405WithAllowFromTheRoutersOwnRoutes() async throws {
        try await withRouter { router, _ in
            try await Application(router: router).test(.router) { client in
                let wrongMethod = try await client.execute(uri: "/api/videos/\(VideoID.make())/status", method: .delete)
                #expect(wrongMethod.status == .methodNotAllowed)
                #expect(wrongMethod.headers[.allow] == "GET")
                let upload = try await client.execute(uri: "/api/videos/", method: .patch)
                #expect(upload.headers[.allow] == "GET, POST", "\(String(buffer: upload.body))")
                let unknown = try await client.execute(uri: "/nowhere", method: .get)
                #expect(unknown.status == .notFound && String(buffer: unknown.body).contains("no route for GET /nowhere"))
            }
        }
    }
}
