import GRDB

/// What the scheduler and the per-user limits read: a queued job's owner and rank, a user's jobs in the queue.
extension VideoQueries {
    public struct QueueEntry: Sendable, Equatable {
        /// username, else user_id, else "".
        public var owner: String
        public var priority: Int
        public var createdAt: String
        /// The owner's active `users` row, if there is one.
        public var user: UserRow?

        public init(owner: String, priority: Int, createdAt: String, user: UserRow?) {
            self.owner = owner
            self.priority = priority
            self.createdAt = createdAt
            self.user = user
        }
    }

    public static func queueEntry(_ db: Database, _ id: String) throws -> QueueEntry? {
        guard let r = try Row.fetchOne(db, sql: """
            SELECT COALESCE(username, user_id, '') AS owner, username, priority, created_at FROM videos WHERE video_id = ?
            """, arguments: [id]) else { return nil }
        let username: String? = r["username"]
        return QueueEntry(owner: r["owner"], priority: r["priority"], createdAt: r["created_at"],
                          user: try username.flatMap { try UserQueries.active(db, username: $0) })
    }

    /// `queueEntry` for a burst of ids: one statement per 500 ids and one `users` lookup per owner, not per job.
    public static func queueEntries(_ db: Database, _ ids: [String]) throws -> [String: QueueEntry] {
        var entries: [String: QueueEntry] = [:]
        var users: [String: UserRow?] = [:]
        for chunk in stride(from: 0, to: ids.count, by: 500) {
            let part = Array(ids[chunk..<min(chunk + 500, ids.count)])
            let marks = Array(repeating: "?", count: part.count).joined(separator: ",")
            let rows = try Row.fetchAll(db, sql: """
                SELECT video_id, COALESCE(username, user_id, '') AS owner, username, priority, created_at FROM videos
                WHERE video_id IN (\(marks))
                """, arguments: StatementArguments(part))
            for r in rows {
                let username: String? = r["username"]
                var user: UserRow?
                if let username {
                    if let known = users[username] { user = known } else {
                        user = try UserQueries.active(db, username: username)
                        users[username] = user
                    }
                }
                entries[r["video_id"]] = QueueEntry(owner: r["owner"], priority: r["priority"], createdAt: r["created_at"], user: user)
            }
        }
        return entries
    }

    /// The user's jobs in `processing` (queued, running or retrying).
    public static func processingCount(_ db: Database, username: String) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM videos WHERE status = ? AND username = ?",
                         arguments: [JobStatus.processing, username]) ?? 0
    }
}

/// Statements over `users` that the daemon and the status API share.
public enum UserQueries {
    /// The user named `username`, unless revoked.
    public static func active(_ db: Database, username: String) throws -> UserRow? {
        try UserRow.filter(Column("username") == username && Column("revoked_at") == nil).fetchOne(db)
    }
}

/// What one processing attempt measured (README, "Analytics"); nil fields were not reached.
public struct JobAnalytics: Sendable, Equatable {
    public var queuedS: Double?
    public var downloadS: Double?
    public var probeS: Double?
    public var convertS: Double?
    public var uploadS: Double?
    public var cpuS: Double?
    public var inputBytes: Int64?
    public var outputBytes: Int64?
    public var speedFactor: Double?

    public init() {}
}

extension VideoQueries {
    /// The attempt's numbers replace the previous attempt's.
    public static func setAnalytics(_ db: Database, _ id: String, _ a: JobAnalytics) throws {
        try db.execute(sql: """
            UPDATE videos SET queued_s = ?, download_s = ?, probe_s = ?, convert_s = ?, upload_s = ?, cpu_s = ?,
              input_bytes = ?, output_bytes = ?, speed_factor = ? WHERE video_id = ?
            """, arguments: [a.queuedS, a.downloadS, a.probeS, a.convertS, a.uploadS, a.cpuS,
                             a.inputBytes, a.outputBytes, a.speedFactor, id])
    }
}
