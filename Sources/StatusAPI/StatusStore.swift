import GRDB
import Store

/// The status API's only handles on the job db, both opened read-only, so no route can write, whatever its bug.
/// `db`, one serial connection (the fastest on 2 cores), serves the point reads clients poll (`/status`,
/// `/healthz`, one video, bearer-token lookups); `bulk`, a pool of readers, serves the scans and the long-lived
/// pollers (`/metrics`, lists, events, SSE), so a slow scrape or many streams never delay a status read.
public struct StatusStore: Sendable {
    public let db: DatabaseQueue
    public let bulk: DatabasePool

    public init(path: String) throws {
        db = try StoreDatabase.openReader(path: path)
        bulk = try StoreDatabase.openReaderPool(path: path)
    }

    /// For SSE streams' polling (on `bulk`).
    public func video(_ id: String) async throws -> VideoRow? {
        try await bulk.read { db in try VideoQueries.row(db, id) }
    }

    /// The whole row, every column, for `GET /api/videos/{id}`.
    public func videoJSON(_ id: String) async throws -> RowJSON? {
        try await db.read { db in try VideoQueries.wholeRow(db, id).map(RowJSON.init) }
    }
}
