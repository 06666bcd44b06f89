import GRDB
import Store

extension StatusStore {
    /// The `/status` answer straight from the columns it shows (`VideoQueries.statusColumns`: a cached prepared
    /// statement, no whole-row decoding), on the route clients poll most.
    public func status(_ id: String) async throws -> StatusResponse? {
        try await db.read { db in try VideoQueries.statusColumns(db, id).map { try StatusResponse(row: $0) } }
    }
}
