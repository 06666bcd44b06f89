import GRDB

/// Every statement over `videos` and `events`, so the SQL for a table lives with that table: the daemon's single
/// writer (`JobStore`) runs the state changes inside its transactions, the read-only status API runs the reports.
/// State values are bound as typed arguments; only the schema's own SQL spells them out.
public enum VideoQueries {
    public static func row(_ db: Database, _ id: String) throws -> VideoRow? {
        try VideoRow.fetchOne(db, key: id)
    }

    /// A row's status and phase, for a claim to tell a receiver's row it adopts from a duplicate: a cached
    /// statement, as a burst asks it once per drop (`row` compiles `SELECT *` each time).
    public static func claimState(_ db: Database, _ id: String) throws -> (status: JobStatus, phase: JobPhase)? {
        guard let r = try Row.fetchOne(db.cachedStatement(sql: "SELECT status, phase FROM videos WHERE video_id = ?"),
                                       arguments: [id]) else { return nil }
        return (r["status"], r["phase"])
    }

    public static func exists(_ db: Database, _ id: String) throws -> Bool {
        try VideoRow.exists(db, key: id)
    }

    /// Which of `ids` have a row; asked in chunks that stay below SQLite's limit on bound arguments.
    public static func existing(_ db: Database, _ ids: [String]) throws -> Set<String> {
        var found = Set<String>()
        for chunk in stride(from: 0, to: ids.count, by: 500) {
            let part = Array(ids[chunk..<min(chunk + 500, ids.count)])
            let marks = Array(repeating: "?", count: part.count).joined(separator: ",")
            found.formUnion(try String.fetchAll(db, sql: "SELECT video_id FROM videos WHERE video_id IN (\(marks))",
                                                arguments: StatementArguments(part)))
        }
        return found
    }

    /// Ids of jobs in `retrying` whose time (`next_attempt_at`) is after `now`.
    public static func retriesNotDue(_ db: Database, now: String) throws -> Set<String> {
        Set(try String.fetchAll(db, sql: """
            SELECT video_id FROM videos WHERE phase = ? AND status = ? AND next_attempt_at > ?
            """, arguments: [JobPhase.retrying, JobStatus.processing, now]))
    }

    /// A row in `processing`, as recovery sees it.
    public struct ProcessingRow: Sendable, Equatable {
        public let id: String
        /// An admin or `inboxd retry` set a finished (failed) row back to `processing`: re-run it from `failed/<id>/`.
        public let retryRequested: Bool
        public let updatedAt: String

        public init(id: String, retryRequested: Bool, updatedAt: String) {
            self.id = id
            self.retryRequested = retryRequested
            self.updatedAt = updatedAt
        }
    }

    /// Rows in `processing`, oldest first; uploads still `receiving` are the upload area's (`UploadSweeper`), not jobs yet.
    public static func processingRows(_ db: Database) throws -> [ProcessingRow] {
        try Row.fetchAll(db, sql: """
            SELECT video_id, finished_at IS NOT NULL AS finished, updated_at FROM videos
            WHERE status = ? AND phase != ? ORDER BY created_at, video_id
            """, arguments: [JobStatus.processing, JobPhase.receiving])
            .map { ProcessingRow(id: $0["video_id"], retryRequested: $0["finished"], updatedAt: $0["updated_at"]) }
    }

    /// The failed jobs among `ids` (in that order), or every failed job when `ids` is nil.
    public static func failedIDs(_ db: Database, among ids: [String]?) throws -> [String] {
        guard let ids else {
            return try String.fetchAll(db, sql: "SELECT video_id FROM videos WHERE status = ?", arguments: [JobStatus.failed])
        }
        return try ids.filter {
            try JobStatus.fetchOne(db, sql: "SELECT status FROM videos WHERE video_id = ?", arguments: [$0]) == .failed
        }
    }
}
