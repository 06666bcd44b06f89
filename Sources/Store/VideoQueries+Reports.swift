import GRDB

/// What the read-only status API shows: rows as the db holds them (every column, for JSON of the whole row), the
/// status columns, the audit log and the totals `/metrics` reports.
extension VideoQueries {
    /// The columns of the `/status` answer, through a cached prepared statement: no SQL compile and no whole-row
    /// decoding on the route clients poll most (see bench/status.sh).
    public static func statusColumns(_ db: Database, _ id: String) throws -> Row? {
        let statement = try db.cachedStatement(sql: """
            SELECT video_id, status, title, created_at, phase, progress, error, failure_reason, attempts, next_attempt_at,
                   video_url, thumbnail_url, preview_url, playable_at,
                   updated_at, started_at FROM videos WHERE video_id = ?
            """)
        return try Row.fetchOne(statement, arguments: [id])
    }

    /// Every column of one row, whatever a later schema adds.
    public static func wholeRow(_ db: Database, _ id: String) throws -> Row? {
        try Row.fetchOne(db, sql: "SELECT * FROM videos WHERE video_id = ?", arguments: [id])
    }

    /// A page of whole rows in the stable `(created_at, video_id)` order: filtered by status and by owner (username
    /// or user id), starting after the position `after`, at most `limit` rows.
    public static func page(_ db: Database, status: JobStatus?, user: String?, after: (createdAt: String, videoID: String)?,
                            limit: Int) throws -> [Row] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let status {
            conditions.append("status = ?")
            arguments += [status]
        }
        if let user {
            conditions.append("(username = ? OR user_id = ?)")
            arguments += [user, user]
        }
        if let after {
            conditions.append("(created_at > ? OR (created_at = ? AND video_id > ?))")
            arguments += [after.createdAt, after.createdAt, after.videoID]
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try Row.fetchAll(db, sql: "SELECT * FROM videos \(whereClause) ORDER BY created_at, video_id LIMIT ?",
                                arguments: arguments + [limit])
    }

    /// One job's audit log, oldest first, every column; nil when there is no such job.
    public static func events(_ db: Database, videoID id: String) throws -> [Row]? {
        guard try exists(db, id) else { return nil }
        return try Row.fetchAll(db, sql: "SELECT * FROM events WHERE video_id = ? ORDER BY id", arguments: [id])
    }

    /// Audit entries after `id`, oldest first, at most `limit`.
    public static func events(_ db: Database, after id: Int64, limit: Int) throws -> [EventRow] {
        try EventRow.fetchAll(db, sql: "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", arguments: [id, limit])
    }

    /// Job counts for `/metrics`. A value outside the enums (an admin's hand edit) is left out, not an error.
    public struct Totals: Sendable, Equatable {
        public var byStatus: [JobStatus: Int] = [:]
        /// Failed jobs by the phase they failed in.
        public var failedByPhase: [JobPhase: Int] = [:]
        /// Failed jobs by reason; a row failed by an older version (or by hand) has none and counts as `other`.
        public var failedByReason: [FailureReason: Int] = [:]
        /// Jobs waiting for a worker (processing, phase queued).
        public var queued = 0
        /// Media bytes of ready jobs.
        public var readyBytes: Int64 = 0

        public init() {}
    }

    public static func totals(_ db: Database) throws -> Totals {
        var t = Totals()
        for r in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM videos GROUP BY status") {
            if let status = JobStatus.fromDatabaseValue(r["status"]) { t.byStatus[status] = r["n"] }
        }
        for r in try Row.fetchAll(db, sql: "SELECT phase, COUNT(*) AS n FROM videos WHERE status = ? GROUP BY phase",
                                  arguments: [JobStatus.failed]) {
            if let phase = JobPhase.fromDatabaseValue(r["phase"]) { t.failedByPhase[phase] = r["n"] }
        }
        for r in try Row.fetchAll(db, sql: """
            SELECT COALESCE(failure_reason, ?) AS reason, COUNT(*) AS n FROM videos WHERE status = ? GROUP BY 1
            """, arguments: [FailureReason.other, JobStatus.failed]) {
            if let reason = FailureReason.fromDatabaseValue(r["reason"]) { t.failedByReason[reason] = r["n"] }
        }
        t.queued = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM videos WHERE status = ? AND phase = ?",
                                    arguments: [JobStatus.processing, JobPhase.queued]) ?? 0
        t.readyBytes = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(size_bytes), 0) FROM videos WHERE status = ?",
                                          arguments: [JobStatus.ready]) ?? 0
        return t
    }
}
