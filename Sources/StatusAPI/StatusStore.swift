import GRDB
import Store

/// The status API's only handle on the job db: opened read-only, so no route can write, whatever its bug.
public struct StatusStore: Sendable {
    public let db: DatabaseQueue

    public init(path: String) throws {
        db = try StoreDatabase.openReader(path: path)
    }

    public func video(_ id: String) async throws -> VideoRow? {
        try await db.read { db in try VideoQueries.row(db, id) }
    }

    /// The whole row, every column, for `GET /api/videos/{id}`.
    public func videoJSON(_ id: String) async throws -> RowJSON? {
        try await db.read { db in try VideoQueries.wholeRow(db, id).map(RowJSON.init) }
    }
}
