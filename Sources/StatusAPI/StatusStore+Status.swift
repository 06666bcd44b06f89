import GRDB
import Store

extension StatusStore {
    /// The `/status` answer straight from the columns it shows, through a cached prepared statement: no SQL
    /// compile and no whole-row Codable decoding on the route clients poll most (see bench/status.sh).
    public func status(_ id: String) async throws -> StatusResponse? {
        try await db.read { db in
            let statement = try db.cachedStatement(sql: """
                SELECT video_id, status, title, created_at, phase, progress, error, failure_reason, attempts, next_attempt_at,
                       video_url, thumbnail_url,
                       updated_at, started_at FROM videos WHERE video_id = ?
                """)
            return try Row.fetchOne(statement, arguments: [id]).map { StatusResponse(row: $0) }
        }
    }
}

