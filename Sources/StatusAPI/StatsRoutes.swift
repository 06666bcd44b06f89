import Foundation
import GRDB
import HTTPKit
import Hummingbird
import Store

/// `GET /api/stats?since=&until=` (admins only): counts, throughput, phase percentiles, failures, CPU and bytes over
/// a window (`JobStats`), computed from the db at request time. A bad `since`/`until` is a 400 naming it.
/// What `/api/stats` reads: the SQLite reader or the shared PostgreSQL store.
public protocol StatsReading: Sendable {
    func stats(window: StatsWindow) async throws -> JobStats
}

extension StatusStore: StatsReading {
    public func stats(window: StatsWindow) async throws -> JobStats {
        try await db.read { db in try JobStats.compute(db, window: window) }
    }
}

public enum StatsRoutes {
    public static func register<Context: AuthenticatedRequestContext>(on router: Router<Context>, store: some StatsReading) {
        router.get("/api/stats") { request, context -> Response in
            _ = try context.requireAdmin()
            let q = request.uri.queryParameters
            let window: StatsWindow
            do throws(StatsWindow.Problem) {
                window = try StatsWindow.parse(since: q["since"].map(String.init), until: q["until"].map(String.init))
            } catch {
                throw APIError.badRequest(error.description)
            }
            let stats = try await store.stats(window: window)
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder.api.encode(stats))))
        }
    }
}
