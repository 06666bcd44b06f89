import PostgresNIO
import Store

/// `inboxd user …` on the shared PostgreSQL store: the same `users` table and columns as SQLite, so a token made
/// here works on every node at once.
struct PGUserAdmin: UserAdministering {
    let store: PGJobStore

    func add(username: String, canUpload: Bool, isAdmin: Bool, limits: UserAdmin.Changes) async throws -> (UserRow, String) {
        var (row, token) = try UserAdmin.newUser(username: username, canUpload: canUpload, isAdmin: isAdmin, limits: limits)
        let r = row
        let id = try await store.transaction { c, logger -> Int64? in
            let rows = try await c.query("""
                INSERT INTO users (username, can_upload, is_admin, token_hash, created_at, max_priority, max_running_jobs,
                  max_queued_jobs, uploads_per_minute, upload_bytes_per_hour)
                VALUES (\(r.username), \(r.canUpload ? 1 : 0), \(r.isAdmin ? 1 : 0), \(r.tokenHash), \(r.createdAt), \(r.maxPriority),
                  \(r.maxRunningJobs), \(r.maxQueuedJobs), \(r.uploadsPerMinute), \(r.uploadBytesPerHour))
                ON CONFLICT (username) DO NOTHING RETURNING id
                """, logger: logger)
            for try await id in rows.decode(Int64.self) { return id }
            return nil
        }
        guard let id else { throw UserAdmin.Failure.exists(username) }
        row.id = id
        return (row, token)
    }

    func modify(username: String, _ changes: UserAdmin.Changes) async throws -> UserRow {
        guard !changes.isEmpty else { throw UserAdmin.Failure.nothingToChange }
        return try await store.transaction { c, logger in
            guard var row = try await PGJobStore.firstUser(c.query("""
                SELECT \(unescaped: PGJobStore.userColumns) FROM users WHERE username = \(username) AND revoked_at IS NULL FOR UPDATE
                """, logger: logger)) else { throw UserAdmin.Failure.unknown(username) }
            changes.apply(to: &row)
            try await c.query("""
                UPDATE users SET can_upload = \(row.canUpload ? 1 : 0), is_admin = \(row.isAdmin ? 1 : 0), max_priority = \(row.maxPriority),
                  max_running_jobs = \(row.maxRunningJobs), max_queued_jobs = \(row.maxQueuedJobs),
                  uploads_per_minute = \(row.uploadsPerMinute), upload_bytes_per_hour = \(row.uploadBytesPerHour)
                WHERE id = \(row.id ?? 0)
                """, logger: logger)
            return row
        }
    }

    func list() async throws -> [UserRow] {
        try await store.users()
    }

    func revoke(username: String) async throws {
        let n = try await PGJobStore.changed(store.client.query("""
            UPDATE users SET revoked_at = \(Timestamp.string()) WHERE username = \(username) AND revoked_at IS NULL RETURNING id
            """, logger: store.logger))
        guard n == 1 else { throw UserAdmin.Failure.unknown(username) }
    }
}
