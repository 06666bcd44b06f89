import Foundation
import GRDB
import HTTPKit
import Logging
import Pipeline
import StatusAPI
import NIOSSL
import PostgresNIO
import Store

/// The job store on PostgreSQL (`[store] url`), for several inboxd nodes sharing one database, one inbox and one
/// S3 bucket. Same tables and columns as the SQLite contract (DESIGN.md), times in the same text format
/// (`Timestamp`), so a row reads the same on either store. Each state change is one transaction with its audit entry.
///
/// Scheduling: a claim inserts the row (processing, queued, no lease); every node's `JobPuller` takes runnable jobs
/// with `SELECT … FOR UPDATE SKIP LOCKED` in priority order and stamps its lease (`locked_by`, `lease_until`) in the
/// same transaction; `renewLeases` extends them every lease/3. A node that dies stops renewing: once `lease_until`
/// has passed, another node takes the job and re-runs it from the shared `processing/<id>/`. Every write of a
/// running job's state checks the lease is still this node's, so a node that lost it can never mark the job
/// `ready` (exactly once). The end of a job (ready, failed, retrying, put back) clears the lease.
final class PGJobStore: JobStoring, StatusReading, VideoListing, StatsReading, UserTokenLookup, UploadJournal {
    let client: PostgresClient
    /// The status side's pool (status, rows, lists, audit log, stats, `/metrics`, live feeds, token lookups): its
    /// connections start with `default_transaction_read_only=on`, so no status route can write, whatever its bug —
    /// as the SQLite status reader opens the file read-only. Connections are opened on first use.
    let reader: PostgresClient
    /// This node's name in `locked_by`.
    let node: String
    let leaseSeconds: Int
    let logger: Logger
    /// The webhooks a state change queues, in its transaction (`PGJobStore+Webhooks`).
    let outbox: WebhookOutbox
    /// The channel a NOTIFY on new or requeued work goes to (a trigger on `videos` sends it).
    static let jobsChannel = "inboxd_jobs"
    /// The channel a NOTIFY on every change of `videos` goes to: wakes the status feeds (SSE, WebSocket) of every node.
    static let changesChannel = "inboxd_changes"
    /// Rung by `JobPuller`'s LISTEN on `changesChannel`.
    let changes = ChangeSignal()
    /// The status feeds' poll when no NOTIFY comes (a dropped LISTEN connection).
    static let feedFallback: Duration = .seconds(2)

    /// Where the store is, from `[store] url`.
    private let endpoint: Endpoint

    init(url: String, node: String, leaseSeconds: Int, logger: Logger, outbox: WebhookOutbox = .none) throws {
        endpoint = try Endpoint(url: url)
        client = PostgresClient(configuration: endpoint.clientConfiguration, backgroundLogger: logger)
        var readOnly = endpoint.clientConfiguration
        readOnly.options.additionalStartupParameters = [("default_transaction_read_only", "on")]
        reader = PostgresClient(configuration: readOnly, backgroundLogger: logger)
        self.node = node
        self.leaseSeconds = leaseSeconds
        self.logger = logger
        self.outbox = outbox
    }

    /// `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`, checked.
    struct Endpoint: Sendable {
        var host: String
        var port: Int
        var user: String
        var password: String?
        var database: String
        var sslmode: String

        init(url: String) throws {
            guard let u = URLComponents(string: url), u.scheme == "postgres" || u.scheme == "postgresql",
                  let host = u.host, !host.isEmpty, let user = u.user, !user.isEmpty else {
                throw ConfigError.badValue(key: "store.url", reason: "expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, got '\(url)'")
            }
            let path = u.path.hasPrefix("/") ? String(u.path.dropFirst()) : u.path
            sslmode = u.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
            guard ["disable", "prefer", "require"].contains(sslmode) else {
                throw ConfigError.badValue(key: "store.url", reason: "sslmode must be disable, prefer or require, got '\(sslmode)'")
            }
            self.host = host
            self.port = u.port ?? 5432
            self.user = user
            self.password = u.password
            self.database = path.isEmpty ? user : path
        }

        var clientConfiguration: PostgresClient.Configuration {
            let tls: PostgresClient.Configuration.TLS = switch sslmode {
            case "disable": .disable
            case "require": .require(.makeClientConfiguration())
            default: .prefer(.makeClientConfiguration())
            }
            return PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }

        /// One plain connection, opened and closed: fails at once (refused, unknown host, bad credentials), where
        /// the client's pool would keep retrying in the background.
        func probe(logger: Logger) async throws {
            let tls: PostgresConnection.Configuration.TLS = sslmode == "disable"
                ? .disable : sslmode == "require" ? .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                : .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            let connection = try await PostgresConnection.connect(
                configuration: .init(host: host, port: port, username: user, password: password, database: database, tls: tls),
                id: 0, logger: logger)
            try await connection.close()
        }
    }

    static func configuration(url: String) throws -> PostgresClient.Configuration {
        try Endpoint(url: url).clientConfiguration
    }

    /// The default node name: host name and process id, unique among running nodes.
    static func defaultNodeName() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())"
    }

    /// Runs `body` with the client's connection pool running (for the CLI; the daemon runs `client` as a service).
    static func with<T: Sendable>(url: String, node: String = defaultNodeName(), leaseSeconds: Int = 30, logger: Logger,
                                  _ body: @Sendable (PGJobStore) async throws -> T) async throws -> T {
        let store = try PGJobStore(url: url, node: node, leaseSeconds: leaseSeconds, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await store.run(); return nil }
            defer { group.cancelAll() }
            try await store.migrate(timeoutSeconds: 15)
            return try await body(store)
        }
    }

    /// Runs both connection pools (the writer's and the status side's) until cancelled.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.reader.run() }
        }
    }

    // MARK: Schema

    /// The SQLite migrations by name (`Schema.migrator`), in PostgreSQL's dialect. A later migration adds its
    /// statements here under the same name as in `Schema.swift`.
    static let migrations: [(name: String, statements: [String])] = [
        ("v1", [
            """
            CREATE TABLE videos (
              video_id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
              user_id TEXT, username TEXT,
              status TEXT NOT NULL DEFAULT 'processing' CHECK (status IN ('processing','ready','failed')),
              visibility TEXT NOT NULL DEFAULT 'draft' CHECK (visibility IN ('draft','private','published')),
              phase TEXT NOT NULL DEFAULT 'queued', progress DOUBLE PRECISION NOT NULL DEFAULT 0,
              video_url TEXT NOT NULL DEFAULT 'processing', thumbnail_url TEXT NOT NULL DEFAULT 'processing',
              error TEXT, attempts BIGINT NOT NULL DEFAULT 0, source TEXT NOT NULL DEFAULT 'drop', source_url TEXT,
              sidecar TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
              duration_s DOUBLE PRECISION, width BIGINT, height BIGINT, video_codec TEXT, audio_codec TEXT, size_bytes BIGINT
            )
            """,
            "CREATE INDEX videos_by_status ON videos(status, created_at, video_id)",
            "CREATE INDEX videos_by_created ON videos(created_at, video_id)",
            """
            CREATE TABLE events (
              id BIGSERIAL PRIMARY KEY, video_id TEXT NOT NULL, at TEXT NOT NULL, status TEXT NOT NULL, phase TEXT, message TEXT
            )
            """,
            "CREATE INDEX events_by_video ON events(video_id, id)",
            """
            CREATE TABLE users (
              id BIGSERIAL PRIMARY KEY, username TEXT NOT NULL UNIQUE, can_upload BIGINT NOT NULL DEFAULT 0,
              is_admin BIGINT NOT NULL DEFAULT 0, token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT
            )
            """,
        ]),
        ("v2: failure_reason", [
            "ALTER TABLE videos ADD COLUMN failure_reason TEXT",
            "CREATE INDEX videos_failed_by_reason ON videos(failure_reason) WHERE status = 'failed'",
        ]),
        ("v3: next_attempt_at", [
            "ALTER TABLE videos ADD COLUMN next_attempt_at TEXT",
            "CREATE INDEX videos_retrying ON videos(next_attempt_at) WHERE phase = 'retrying'",
        ]),
        ("v4: tus uploads", [
            """
            CREATE TABLE uploads (
              video_id TEXT PRIMARY KEY NOT NULL,
              state TEXT NOT NULL DEFAULT 'receiving' CHECK (state IN ('receiving','complete','expired','terminated','lost')),
              upload_length BIGINT NOT NULL, upload_offset BIGINT NOT NULL DEFAULT 0, metadata TEXT NOT NULL DEFAULT '',
              media_name TEXT NOT NULL, user_id TEXT, username TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
              expires_at TEXT NOT NULL, completed_at TEXT
            )
            """,
            "CREATE INDEX uploads_receiving ON uploads(expires_at) WHERE state = 'receiving'",
        ]),
        ("v5: webhook deliveries", [
            """
            CREATE TABLE webhook_deliveries (
              id BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL,
              event TEXT NOT NULL CHECK (event IN ('video.processing','video.ready','video.failed')),
              video_id TEXT NOT NULL, url TEXT NOT NULL, origin TEXT NOT NULL CHECK (origin IN ('webhook','notify_url')),
              body TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','delivered','failed')),
              attempts BIGINT NOT NULL DEFAULT 0, last_status BIGINT, last_error TEXT, created_at TEXT NOT NULL,
              next_attempt_at TEXT, retry_until TEXT NOT NULL, delivered_at TEXT
            )
            """,
            "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending'",
            "CREATE INDEX webhook_deliveries_in_order ON webhook_deliveries(video_id, url, id) WHERE state = 'pending'",
        ]),
        ("v6: priorities and analytics", [
            """
            ALTER TABLE videos ADD COLUMN priority BIGINT NOT NULL DEFAULT 0, ADD COLUMN queued_s DOUBLE PRECISION,
              ADD COLUMN download_s DOUBLE PRECISION, ADD COLUMN probe_s DOUBLE PRECISION, ADD COLUMN convert_s DOUBLE PRECISION,
              ADD COLUMN upload_s DOUBLE PRECISION, ADD COLUMN cpu_s DOUBLE PRECISION, ADD COLUMN input_bytes BIGINT,
              ADD COLUMN output_bytes BIGINT, ADD COLUMN speed_factor DOUBLE PRECISION
            """,
            "CREATE INDEX videos_by_finished ON videos(finished_at)",
            "CREATE INDEX videos_by_user_status ON videos(username, status)",
            """
            ALTER TABLE users ADD COLUMN max_priority BIGINT NOT NULL DEFAULT 0, ADD COLUMN max_running_jobs BIGINT,
              ADD COLUMN max_queued_jobs BIGINT, ADD COLUMN uploads_per_minute BIGINT, ADD COLUMN upload_bytes_per_hour BIGINT
            """,
        ]),
        ("v7: live preview", ["ALTER TABLE videos ADD COLUMN preview_url TEXT, ADD COLUMN playable_at TEXT"]),
        ("v8: leases", [
            "ALTER TABLE videos ADD COLUMN locked_by TEXT, ADD COLUMN lease_until TEXT",
            "CREATE INDEX videos_runnable ON videos(priority DESC, created_at, video_id) WHERE status = 'processing'",
            // Wakes every node's puller (and status feeds) on new, requeued or finished work, whoever wrote it —
            // the admin's recovery SQL included.
            """
            CREATE FUNCTION inboxd_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_notify('inboxd_jobs', ''); RETURN NULL; END $$
            """,
            """
            CREATE TRIGGER videos_notify_jobs AFTER INSERT OR UPDATE OF status, phase, finished_at ON videos
              FOR EACH STATEMENT EXECUTE FUNCTION inboxd_notify_jobs()
            """,
            """
            CREATE FUNCTION inboxd_notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_notify('inboxd_changes', ''); RETURN NULL; END $$
            """,
            """
            CREATE TRIGGER videos_notify_changes AFTER INSERT OR UPDATE OR DELETE ON videos
              FOR EACH STATEMENT EXECUTE FUNCTION inboxd_notify_changes()
            """,
        ]),
        // PostgreSQL only (`postgresOnlyMigrations`): the receiver's per-user upload windows, shared by the nodes
        // (`PGJobStore+UploadWindows`). A SQLite node keeps them in memory.
        ("pg: upload usage", [
            "CREATE TABLE upload_usage (id BIGSERIAL PRIMARY KEY, username TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, bytes BIGINT)",
            "CREATE INDEX upload_usage_by_user ON upload_usage(username, at)",
        ]),
    ]

    /// The migrations of `migrations` with no SQLite counterpart in `Schema.migrator` (what only several nodes need).
    static let postgresOnlyMigrations: Set<String> = ["pg: upload usage"]

    /// Applies pending migrations under a session advisory lock, so nodes starting together apply each once.
    /// A database migrated by a newer inboxd (a migration this one does not know) is refused.
    func migrate() async throws {
        let logger = self.logger
        let known = Set(Self.migrations.map(\.name))
        try await client.withConnection { conn in
            try await conn.query("SELECT pg_advisory_lock(\(Self.migrationLock))", logger: logger)
            do {
                try await conn.query("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY NOT NULL, applied_at TEXT NOT NULL)
                    """, logger: logger)
                var applied = Set<String>()
                for try await name in try await conn.query("SELECT name FROM schema_migrations", logger: logger).decode(String.self) {
                    applied.insert(name)
                }
                if let unknown = applied.subtracting(known).sorted().first {
                    throw StoreError.cannotOpen(path: "PostgreSQL", reason:
                        "its schema has migration '\(unknown)', newer than this inboxd knows (\(Schema.version)); run a newer inboxd")
                }
                for (name, statements) in Self.migrations where !applied.contains(name) {
                    try await conn.withTransaction(logger: logger) { tx in
                        for sql in statements { try await tx.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                        try await tx.query("INSERT INTO schema_migrations (name, applied_at) VALUES (\(name), \(Timestamp.string()))",
                                           logger: logger)
                    }
                    logger.info("PostgreSQL migration applied", metadata: ["db.migration": "\(name)"])
                }
            } catch {
                _ = try? await conn.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
                throw error
            }
            try await conn.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
        }
    }

    /// `migrate()`, bounded: an unreachable server is an error at start, not a node that waits forever.
    func migrate(timeoutSeconds: Double) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await self.endpoint.probe(logger: self.logger)
                try await self.migrate()
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(timeoutSeconds * 1000)))
                throw StoreError.cannotOpen(path: "PostgreSQL", reason: "no connection within \(Int(timeoutSeconds)) s")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// The advisory lock key of migrations ("inboxd" in ASCII).
    static let migrationLock: Int64 = 0x696E_626F_7864

    // MARK: Rows

    static let rowColumns = """
        video_id, title, description, user_id, username, status, visibility, phase, progress, video_url, thumbnail_url,
        error, failure_reason, attempts, next_attempt_at, source, source_url, sidecar, created_at, updated_at, started_at,
        finished_at, duration_s, width, height, video_codec, audio_codec, size_bytes, priority, preview_url, playable_at,
        locked_by, lease_until
        """

    static func videoRow(_ row: PostgresRow) throws -> VideoRow {
        let r = row.makeRandomAccess()
        func s(_ c: String) throws -> String { try r[c].decode(String.self) }
        func o(_ c: String) throws -> String? { try r[c].decode(String?.self) }
        func bad(_ c: String, _ v: String) -> Error { StoreError.cannotOpen(path: "PostgreSQL", reason: "videos.\(c) has unknown value '\(v)'") }
        var v = VideoRow(videoID: try s("video_id"), title: try s("title"), source: .drop)
        v.description = try s("description")
        v.userID = try o("user_id")
        v.username = try o("username")
        let status = try s("status"), visibility = try s("visibility"), phase = try s("phase"), source = try s("source")
        guard let st = JobStatus(rawValue: status) else { throw bad("status", status) }
        guard let vi = Visibility(rawValue: visibility) else { throw bad("visibility", visibility) }
        guard let ph = JobPhase(rawValue: phase) else { throw bad("phase", phase) }
        guard let so = JobSource(rawValue: source) else { throw bad("source", source) }
        v.status = st; v.visibility = vi; v.phase = ph; v.source = so
        v.progress = try r["progress"].decode(Double.self)
        v.videoURL = try s("video_url")
        v.thumbnailURL = try s("thumbnail_url")
        v.error = try o("error")
        v.failureReason = try o("failure_reason").flatMap(FailureReason.init(rawValue:))
        v.attempts = try r["attempts"].decode(Int.self)
        v.nextAttemptAt = try o("next_attempt_at")
        v.sourceURL = try o("source_url")
        v.sidecar = try o("sidecar")
        v.createdAt = try s("created_at")
        v.updatedAt = try s("updated_at")
        v.startedAt = try o("started_at")
        v.finishedAt = try o("finished_at")
        v.durationS = try r["duration_s"].decode(Double?.self)
        v.width = try r["width"].decode(Int?.self)
        v.height = try r["height"].decode(Int?.self)
        v.videoCodec = try o("video_codec")
        v.audioCodec = try o("audio_codec")
        v.sizeBytes = try r["size_bytes"].decode(Int64?.self)
        v.priority = try r["priority"].decode(Int.self)
        v.previewURL = try o("preview_url")
        v.playableAt = try o("playable_at")
        v.lockedBy = try o("locked_by")
        v.leaseUntil = try o("lease_until")
        return v
    }

    static func row(_ c: PostgresConnection, _ id: String, logger: Logger, forUpdate: Bool = false) async throws -> VideoRow? {
        let lock = forUpdate ? " FOR UPDATE" : ""
        for try await r in try await c.query("SELECT \(unescaped: rowColumns) FROM videos WHERE video_id = \(id)\(unescaped: lock)", logger: logger) {
            return try videoRow(r)
        }
        return nil
    }

    static func event(_ c: PostgresConnection, _ id: String, _ status: JobStatus, _ phase: JobPhase?, _ message: String?,
                              logger: Logger) async throws {
        try await c.query("""
            INSERT INTO events (video_id, at, status, phase, message)
            VALUES (\(id), \(Timestamp.string()), \(status.rawValue), \(phase?.rawValue), \(message))
            """, logger: logger)
    }

    static func insert(_ c: PostgresConnection, _ v: VideoRow, message: String?, replace: Bool, logger: Logger) async throws {
        if replace { try await c.query("DELETE FROM videos WHERE video_id = \(v.videoID)", logger: logger) }
        try await c.query("""
            INSERT INTO videos (video_id, title, description, user_id, username, status, visibility, phase, progress, video_url,
              thumbnail_url, error, failure_reason, attempts, next_attempt_at, source, source_url, sidecar, created_at, updated_at,
              started_at, finished_at, priority)
            VALUES (\(v.videoID), \(v.title), \(v.description), \(v.userID), \(v.username), \(v.status.rawValue),
              \(v.visibility.rawValue), \(v.phase.rawValue), \(v.progress), \(v.videoURL), \(v.thumbnailURL), \(v.error),
              \(v.failureReason?.rawValue), \(v.attempts), \(v.nextAttemptAt), \(v.source.rawValue), \(v.sourceURL), \(v.sidecar),
              \(v.createdAt), \(v.updatedAt), \(v.startedAt), \(v.finishedAt), \(v.priority))
            """, logger: logger)
        try await event(c, v.videoID, v.status, v.phase, message, logger: logger)
    }

    /// One transaction; an error the body threw (a duplicate, a lost lease) comes out as itself, not wrapped.
    func transaction<T: Sendable>(on pool: PostgresClient? = nil, _ body: (PostgresConnection, Logger) async throws -> T) async throws -> T {
        let logger = self.logger
        do {
            return try await (pool ?? client).withTransaction(logger: logger) { c in try await body(c, logger) }
        } catch let e as PostgresTransactionError {
            if let inner = e.closureError, e.rollbackError == nil { throw inner }
            throw e
        }
    }

    /// Rows a statement ending in `RETURNING` changed.
    static func changed(_ rows: PostgresRowSequence) async throws -> Int {
        try await rows.collect().count
    }

    // MARK: JobStoring

    func recordClaim(_ row: VideoRow) async throws {
        let outbox = self.outbox
        try await transaction { c, logger in try await Self.recordClaim(c, row, outbox: outbox, logger: logger) }
    }

    func recordClaims(_ rows: [VideoRow]) async throws -> [String: AdoptError] {
        let outbox = self.outbox
        return try await transaction { c, logger in
            var duplicates: [String: AdoptError] = [:]
            for row in rows {
                do { try await Self.recordClaim(c, row, outbox: outbox, logger: logger) } catch let e as AdoptError { duplicates[row.videoID] = e }
            }
            return duplicates
        }
    }

    private static func recordClaim(_ c: PostgresConnection, _ row: VideoRow, outbox: WebhookOutbox, logger: Logger) async throws {
        if let existing = try await Self.row(c, row.videoID, logger: logger, forUpdate: true) {
            guard existing.status == .processing, existing.phase != .receiving else {
                throw AdoptError.duplicate(videoID: row.videoID, status: existing.status)
            }
            try await c.query("""
                UPDATE videos SET sidecar = COALESCE(\(row.sidecar), sidecar), source_url = COALESCE(\(row.sourceURL), source_url),
                  priority = \(row.priority), updated_at = \(Timestamp.string()) WHERE video_id = \(row.videoID)
                """, logger: logger)
            try await event(c, row.videoID, row.status, row.phase, "claimed", logger: logger)
        } else {
            try await insert(c, row, message: "claimed", replace: false, logger: logger)
            try await outbox.record(c, videoID: row.videoID, event: .processing, logger: logger)
        }
    }

    /// The HTTP receiver's row (`UploadJournal`), before the drop's sidecar appears in the shared inbox: inserted
    /// (never replaced) with its first audit entry; the claim of whichever node sees the drop adopts it.
    func recordAcceptedUpload(_ row: VideoRow) async throws {
        let outbox = self.outbox
        try await transaction { c, logger in
            try await Self.insert(c, row, message: "accepted by the HTTP receiver", replace: false, logger: logger)
            try await outbox.record(c, videoID: row.videoID, event: .processing, logger: logger)
        }
    }

    func recordRejected(_ row: VideoRow, error: String, reason: FailureReason) async throws {
        let failed = row.rejected(error: error, reason: reason)
        let outbox = self.outbox
        try await transaction { c, logger in
            try await Self.insert(c, failed, message: error, replace: true, logger: logger)
            try await outbox.record(c, videoID: failed.videoID, event: .failed, logger: logger)
        }
    }

    func row(_ id: String) async throws -> VideoRow? {
        let logger = self.logger
        return try await client.withConnection { c in try await Self.row(c, id, logger: logger) }
    }

    /// The lease condition of every write of a running job's state.
    private var ours: String { "locked_by = '\(node.replacingOccurrences(of: "'", with: "''"))'" }

    func startAttempt(_ id: String, maxAttempts: Int) async throws -> AttemptStart {
        let node = self.node, ours = self.ours, outbox = self.outbox
        return try await transaction { c, logger in
            guard let current = try await Self.row(c, id, logger: logger, forUpdate: true) else { return .vanished }
            guard current.lockedBy == node else { throw LeaseLost(videoID: id, node: node) }
            let now = Timestamp.string()
            if current.attempts >= maxAttempts {
                let (reason, message) = AttemptStart.exhaustion(of: current)
                try await Self.fail(c, current, error: message, reason: reason, logger: logger)
                try await outbox.record(c, videoID: id, event: .failed, logger: logger)
                return .exhausted(reason, message)
            }
            try await c.query("""
                UPDATE videos SET status = 'processing', phase = 'queued', progress = 0, error = NULL, failure_reason = NULL,
                  next_attempt_at = NULL, attempts = attempts + 1, started_at = \(now), finished_at = NULL, updated_at = \(now)
                WHERE video_id = \(id) AND \(unescaped: ours)
                """, logger: logger)
            guard let row = try await Self.row(c, id, logger: logger) else { return .vanished }
            try await Self.event(c, id, .processing, .queued, "attempt \(row.attempts) started", logger: logger)
            try await outbox.record(c, videoID: id, event: .processing, logger: logger)
            return .started(row)
        }
    }

    static func fail(_ c: PostgresConnection, _ row: VideoRow, error: String, reason: FailureReason, logger: Logger) async throws {
        let now = Timestamp.string()
        try await c.query("""
            UPDATE videos SET status = 'failed', error = \(error), failure_reason = \(reason.rawValue), next_attempt_at = NULL,
              finished_at = \(now), updated_at = \(now), locked_by = NULL, lease_until = NULL WHERE video_id = \(row.videoID)
            """, logger: logger)
        try await event(c, row.videoID, .failed, row.phase, error, logger: logger)
    }

    /// Runs `body` on the job's row if this node still holds its lease; `LeaseLost` else.
    private func leased(_ id: String, _ body: @escaping @Sendable (PostgresConnection, VideoRow, Logger) async throws -> Void) async throws {
        let node = self.node
        try await transaction { c, logger in
            guard let row = try await Self.row(c, id, logger: logger, forUpdate: true) else { return }
            guard row.lockedBy == node else { throw LeaseLost(videoID: id, node: node) }
            try await body(c, row, logger)
        }
    }

    func markRetrying(_ id: String, error: String, reason: FailureReason, at: Date) async throws {
        let next = Timestamp.string(at), outbox = self.outbox
        try await leased(id) { c, row, logger in
            guard row.status == .processing else { return }
            try await c.query("""
                UPDATE videos SET phase = 'retrying', error = \(error), failure_reason = \(reason.rawValue), next_attempt_at = \(next),
                  updated_at = \(Timestamp.string()), locked_by = NULL, lease_until = NULL WHERE video_id = \(id)
                """, logger: logger)
            try await Self.event(c, id, .processing, .retrying, "retry at \(next): \(error)", logger: logger)
            try await outbox.record(c, videoID: id, event: .processing, logger: logger)
        }
    }

    func retriesNotDue(now: Date) async throws -> Set<String> {
        let logger = self.logger
        let rows = try await client.query("""
            SELECT video_id FROM videos WHERE phase = 'retrying' AND status = 'processing' AND next_attempt_at > \(Timestamp.string(now))
            """, logger: logger)
        var ids = Set<String>()
        for try await id in rows.decode(String.self) { ids.insert(id) }
        return ids
    }

    func existing(_ ids: [String]) async throws -> Set<String> {
        let rows = try await client.query("SELECT video_id FROM videos WHERE video_id = ANY(\(ids))", logger: logger)
        var found = Set<String>()
        for try await id in rows.decode(String.self) { found.insert(id) }
        return found
    }

    func setPhase(_ id: String, _ phase: JobPhase, progress: Double) async throws {
        let outbox = self.outbox
        try await leased(id) { c, row, logger in
            guard row.status == .processing else { return }
            try await c.query("""
                UPDATE videos SET phase = \(phase.rawValue), progress = \(progress), updated_at = \(Timestamp.string()) WHERE video_id = \(id)
                """, logger: logger)
            try await Self.event(c, id, .processing, phase, nil, logger: logger)
            try await outbox.record(c, videoID: id, event: .processing, logger: logger)
        }
    }

    func setProgress(_ id: String, _ progress: Double) async throws {
        try await client.query("""
            UPDATE videos SET progress = \(progress), updated_at = \(Timestamp.string())
            WHERE video_id = \(id) AND status = 'processing' AND \(unescaped: ours)
            """, logger: logger)
    }

    func setMediaInfo(_ id: String, _ info: MediaInfo) async throws {
        try await client.query("""
            UPDATE videos SET duration_s = \(info.durationSeconds), width = \(info.width), height = \(info.height),
              video_codec = \(info.videoCodec), audio_codec = \(info.audioCodec), size_bytes = \(info.sizeBytes),
              updated_at = \(Timestamp.string()) WHERE video_id = \(id) AND \(unescaped: ours)
            """, logger: logger)
    }

    func recordAnalytics(_ id: String, _ a: JobAnalytics) async throws {
        try await client.query("""
            UPDATE videos SET queued_s = \(a.queuedS), download_s = \(a.downloadS), probe_s = \(a.probeS), convert_s = \(a.convertS),
              upload_s = \(a.uploadS), cpu_s = \(a.cpuS), input_bytes = \(a.inputBytes), output_bytes = \(a.outputBytes),
              speed_factor = \(a.speedFactor) WHERE video_id = \(id) AND \(unescaped: ours)
            """, logger: logger)
    }

    func queueEntry(_ id: String) async throws -> VideoQueries.QueueEntry? {
        let rows = try await client.query("""
            SELECT COALESCE(username, user_id, ''), username, priority, created_at FROM videos WHERE video_id = \(id)
            """, logger: logger)
        for try await (owner, username, priority, createdAt) in rows.decode((String, String?, Int, String).self) {
            let user = try await username.asyncFlatMap { try await self.user($0) }
            return VideoQueries.QueueEntry(owner: owner, priority: priority, createdAt: createdAt, user: user)
        }
        return nil
    }

    func processingCount(username: String) async throws -> Int {
        let rows = try await client.query("""
            SELECT COUNT(*) FROM videos WHERE status = 'processing' AND username = \(username)
            """, logger: logger)
        for try await n in rows.decode(Int.self) { return n }
        return 0
    }

    func user(_ username: String) async throws -> UserRow? {
        try await Self.firstUser(client.query("""
            SELECT \(unescaped: Self.userColumns) FROM users WHERE username = \(username) AND revoked_at IS NULL
            """, logger: logger))
    }

    /// The bearer-token lookup of the HTTP API (`UserDirectory`): revoked users too, which it refuses by name.
    func user(tokenHash: String) async throws -> UserRow? {
        try await Self.firstUser(reader.query("""
            SELECT \(unescaped: Self.userColumns) FROM users WHERE token_hash = \(tokenHash)
            """, logger: logger))
    }

    static let userColumns = """
        id, username, can_upload, is_admin, token_hash, created_at, revoked_at, max_priority, max_running_jobs, \
        max_queued_jobs, uploads_per_minute, upload_bytes_per_hour
        """

    /// Every user, by id (`inboxd user list`).
    func users() async throws -> [UserRow] {
        var users: [UserRow] = []
        for try await r in try await client.query("SELECT \(unescaped: Self.userColumns) FROM users ORDER BY id", logger: logger) {
            users.append(try Self.user(r))
        }
        return users
    }

    static func firstUser(_ rows: PostgresRowSequence) async throws -> UserRow? {
        for try await r in rows { return try user(r) }
        return nil
    }

    /// A row of `userColumns`.
    static func user(_ r: PostgresRow) throws -> UserRow {
        let (id, name, canUpload, isAdmin, hash, created, revoked) = try r.decode((Int64, String, Int, Int, String, String, String?).self)
        var u = UserRow(username: name, canUpload: canUpload != 0, isAdmin: isAdmin != 0, tokenHash: hash, createdAt: created)
        u.id = id
        u.revokedAt = revoked
        let a = r.makeRandomAccess()
        u.maxPriority = try a["max_priority"].decode(Int.self)
        u.maxRunningJobs = try a["max_running_jobs"].decode(Int?.self)
        u.maxQueuedJobs = try a["max_queued_jobs"].decode(Int?.self)
        u.uploadsPerMinute = try a["uploads_per_minute"].decode(Int?.self)
        u.uploadBytesPerHour = try a["upload_bytes_per_hour"].decode(Int64?.self)
        return u
    }

    func markReady(_ id: String, _ published: PublishedVideo) async throws {
        let thumbnail = published.thumbnailURL ?? "", outbox = self.outbox
        try await leased(id) { c, row, logger in
            guard row.status == .processing else { return }
            let now = Timestamp.string()
            try await c.query("""
                UPDATE videos SET status = 'ready', phase = 'done', progress = 1.0, video_url = \(published.videoURL),
                  thumbnail_url = \(thumbnail), error = NULL, failure_reason = NULL, finished_at = \(now), updated_at = \(now),
                  locked_by = NULL, lease_until = NULL WHERE video_id = \(id)
                """, logger: logger)
            try await Self.event(c, id, .ready, .done, published.videoURL, logger: logger)
            try await outbox.record(c, videoID: id, event: .ready, logger: logger)
        }
    }

    /// `preview_url` (re)set, `playable_at` kept from the first time (a re-run publishes the same master again).
    func markPlayable(_ id: String, previewURL: String) async throws {
        try await leased(id) { c, row, logger in
            guard row.status == .processing else { return }
            let now = Timestamp.string()
            try await c.query("""
                UPDATE videos SET preview_url = \(previewURL), playable_at = COALESCE(playable_at, \(now)), updated_at = \(now)
                WHERE video_id = \(id)
                """, logger: logger)
            try await Self.event(c, id, .processing, row.phase, "playable: \(previewURL)", logger: logger)
        }
    }

    func markFailed(_ id: String, error: String, reason: FailureReason) async throws {
        let node = self.node, outbox = self.outbox
        try await transaction { c, logger in
            guard let row = try await Self.row(c, id, logger: logger, forUpdate: true) else { return }
            // A job another node holds a live lease on is that node's to fail; recovery's failures (lost, originals
            // missing) concern rows nobody runs.
            if let holder = row.lockedBy, holder != node, let until = row.leaseUntil, until >= Timestamp.string() {
                throw LeaseLost(videoID: id, node: node)
            }
            try await Self.fail(c, row, error: error, reason: reason, logger: logger)
            try await outbox.record(c, videoID: id, event: .failed, logger: logger)
        }
    }

    func requeue(_ id: String, reason: String) async throws {
        let outbox = self.outbox
        try await leased(id) { c, row, logger in
            guard row.status == .processing else { return }
            try await c.query("""
                UPDATE videos SET phase = 'queued', progress = 0, attempts = GREATEST(attempts - 1, 0), updated_at = \(Timestamp.string()),
                  locked_by = NULL, lease_until = NULL WHERE video_id = \(id)
                """, logger: logger)
            try await Self.event(c, id, .processing, .queued, reason, logger: logger)
            try await outbox.record(c, videoID: id, event: .processing, logger: logger)
        }
    }

    func processingRows() async throws -> [VideoQueries.ProcessingRow] {
        let rows = try await client.query("""
            SELECT video_id, finished_at IS NOT NULL, updated_at FROM videos
            WHERE status = 'processing' AND phase <> 'receiving' ORDER BY created_at, video_id
            """, logger: logger)
        var out: [VideoQueries.ProcessingRow] = []
        for try await (id, finished, updated) in rows.decode((String, Bool, String).self) {
            out.append(VideoQueries.ProcessingRow(id: id, retryRequested: finished, updatedAt: updated))
        }
        return out
    }

    func processingJobs() async throws -> [VideoRow] {
        var out: [VideoRow] = []
        for try await r in try await client.query("""
            SELECT \(unescaped: Self.rowColumns) FROM videos WHERE status = 'processing' ORDER BY created_at, video_id
            """, logger: logger) {
            out.append(try Self.videoRow(r))
        }
        return out
    }

    func resetAttempts(_ id: String) async throws {
        try await client.query("""
            UPDATE videos SET attempts = 0, finished_at = NULL, next_attempt_at = NULL, locked_by = NULL, lease_until = NULL, updated_at = \(Timestamp.string())
            WHERE video_id = \(id)
            """, logger: logger)
    }

    func retry(ids: [String]?) async throws -> [String] {
        let outbox = self.outbox
        return try await transaction { c, logger in
            var targets: [String] = []
            let rows = ids == nil
                ? try await c.query("SELECT video_id FROM videos WHERE status = 'failed' ORDER BY created_at FOR UPDATE", logger: logger)
                : try await c.query("SELECT video_id FROM videos WHERE status = 'failed' AND video_id = ANY(\(ids ?? [])) FOR UPDATE", logger: logger)
            for try await id in rows.decode(String.self) { targets.append(id) }
            if let ids { targets = ids.filter(targets.contains) }
            for id in targets {
                try await c.query("""
                    UPDATE videos SET status = 'processing', phase = 'queued', progress = 0, error = NULL, attempts = 0,
                      updated_at = \(Timestamp.string()) WHERE video_id = \(id)
                    """, logger: logger)
                try await Self.event(c, id, .processing, .queued, "retry requested", logger: logger)
                try await outbox.record(c, videoID: id, event: .processing, logger: logger)
            }
            return targets
        }
    }

    // MARK: Status API (StatusReading)

    func ping() async throws {
        try await reader.query("SELECT 1", logger: logger)
    }

    /// A job's row through the status side's read-only pool.
    func video(_ id: String) async throws -> VideoRow? {
        let logger = self.logger
        return try await reader.withConnection { c in try await Self.row(c, id, logger: logger) }
    }

    func status(_ id: String) async throws -> StatusResponse? { try await video(id).map { StatusResponse($0) } }

    func videoJSON(_ id: String) async throws -> RowJSON? {
        for try await r in try await reader.query("SELECT * FROM videos WHERE video_id = \(id)", logger: logger) {
            return try Self.json(r)
        }
        return nil
    }

    /// `GET /api/videos` (`VideoListing`): the SQLite query's conditions and order; `COLLATE "C"` keeps the order and
    /// the cursor's comparisons in byte order, as SQLite's, whatever the database's locale.
    func page(status: JobStatus?, user: String?, after: (createdAt: String, videoID: String)?, limit: Int) async throws -> [RowJSON] {
        let s = status?.rawValue, created = after?.createdAt, id = after?.videoID
        var rows: [RowJSON] = []
        for try await r in try await reader.query("""
            SELECT * FROM videos
            WHERE (\(s)::text IS NULL OR status = \(s)) AND (\(user)::text IS NULL OR username = \(user) OR user_id = \(user))
              AND (\(created)::text IS NULL OR created_at COLLATE "C" > \(created)
                   OR (created_at = \(created) AND video_id COLLATE "C" > \(id)))
            ORDER BY created_at COLLATE "C", video_id COLLATE "C" LIMIT \(limit)
            """, logger: logger) {
            rows.append(try Self.json(r))
        }
        return rows
    }

    /// `GET /api/stats` (`StatsReading`): the SQLite store's three reads, then the same arithmetic (`JobStats.make`).
    func stats(window: StatsWindow) async throws -> JobStats {
        let since = Timestamp.string(window.since), until = Timestamp.string(window.until)
        var created: [String: Int] = [:]
        for try await (status, n) in try await reader.query("""
            SELECT status, COUNT(*) FROM videos WHERE created_at >= \(since) AND created_at <= \(until) GROUP BY status
            """, logger: logger).decode((String, Int).self) {
            created[status] = n
        }
        var finished: [Row] = []
        for try await r in try await reader.query("""
            SELECT \(unescaped: JobStats.finishedColumns) FROM videos
            WHERE finished_at >= \(since) AND finished_at <= \(until) AND status IN ('ready', 'failed')
            """, logger: logger) {
            let json = try Self.json(r)
            finished.append(Row(Dictionary(uniqueKeysWithValues: json.columns.map { ($0.name, $0.value as (any DatabaseValueConvertible)?) })))
        }
        var retries = 0
        for try await n in try await reader.query("""
            SELECT COUNT(*) FROM events WHERE phase = 'retrying' AND at >= \(since) AND at <= \(until)
            """, logger: logger).decode(Int.self) {
            retries = n
        }
        return JobStats.make(window: window, created: created, finished: finished, retries: retries)
    }

    func events(_ id: String) async throws -> [RowJSON]? {
        guard try await video(id) != nil else { return nil }
        var out: [RowJSON] = []
        for try await r in try await reader.query("SELECT * FROM events WHERE video_id = \(id) ORDER BY id", logger: logger) {
            out.append(try Self.json(r))
        }
        return out
    }

    /// `/metrics`: the job totals (as `VideoQueries.totals` counts them) and the audit entries after `afterEvent`.
    func metricsSnapshot(afterEvent: Int64) async throws -> InboxMetrics.Snapshot {
        try await transaction(on: reader) { c, logger in
            var t = VideoQueries.Totals()
            for try await (status, n) in try await c.query("SELECT status, count(*) FROM videos GROUP BY status", logger: logger)
                .decode((String, Int).self) {
                if let s = JobStatus(rawValue: status) { t.byStatus[s] = n }
            }
            for try await (phase, n) in try await c.query("""
                SELECT phase, count(*) FROM videos WHERE status = 'failed' GROUP BY phase
                """, logger: logger).decode((String, Int).self) {
                if let p = JobPhase(rawValue: phase) { t.failedByPhase[p] = n }
            }
            for try await (reason, n) in try await c.query("""
                SELECT COALESCE(failure_reason, 'other'), count(*) FROM videos WHERE status = 'failed' GROUP BY 1
                """, logger: logger).decode((String, Int).self) {
                if let r = FailureReason(rawValue: reason) { t.failedByReason[r] = n }
            }
            for try await (queued, bytes) in try await c.query("""
                SELECT count(*) FILTER (WHERE status = 'processing' AND phase = 'queued'),
                       COALESCE(SUM(size_bytes) FILTER (WHERE status = 'ready'), 0)::BIGINT FROM videos
                """, logger: logger).decode((Int, Int64).self) {
                t.queued = queued
                t.readyBytes = bytes
            }
            var events: [EventRow] = []
            for try await (id, videoID, at, status, phase, message) in try await c.query("""
                SELECT id, video_id, at, status, phase, message FROM events WHERE id > \(afterEvent) ORDER BY id LIMIT 100000
                """, logger: logger).decode((Int64, String, String, String, String?, String?).self) {
                guard let s = JobStatus(rawValue: status) else { continue }
                var e = EventRow(videoID: videoID, status: s, phase: phase.flatMap(JobPhase.init(rawValue:)), message: message, at: at)
                e.id = id
                events.append(e)
            }
            return InboxMetrics.Snapshot(totals: t, events: events)
        }
    }

    func changeMark() -> UInt64 { changes.mark }

    /// The newest audit entry's id (0 for none).
    func lastEventID() async throws -> Int64 {
        for try await n in try await reader.query("SELECT COALESCE(max(id), 0)::bigint FROM events", logger: logger).decode(Int64.self) {
            return n
        }
        return 0
    }

    /// Audit entries after `id`, oldest first: their ids and jobs.
    func eventEntries(after id: Int64, limit: Int) async throws -> [(id: Int64, videoID: String)] {
        var entries: [(id: Int64, videoID: String)] = []
        for try await (n, video) in try await reader.query(
            "SELECT id, video_id FROM events WHERE id > \(id) ORDER BY id LIMIT \(limit)", logger: logger
        ).decode((Int64, String).self) {
            entries.append((n, video))
        }
        return entries
    }

    func waitForChange(since mark: UInt64) async throws {
        await changes.wait(since: mark, atMost: Self.feedFallback)
        try Task.checkCancellation()
    }

    /// Every column under its own name, as the SQLite store's JSON of a row shows it (integers, reals, text, null).
    static func json(_ row: PostgresRow) throws -> RowJSON {
        var columns: [(name: String, value: DatabaseValue)] = []
        for cell in row {
            let value: DatabaseValue
            if cell.bytes == nil {
                value = .null
            } else {
                switch cell.dataType {
                case .int2, .int4, .int8: value = try cell.decode(Int64.self).databaseValue
                case .float4, .float8: value = try cell.decode(Double.self).databaseValue
                case .bool: value = (try cell.decode(Bool.self) ? 1 : 0).databaseValue
                default: value = try cell.decode(String.self).databaseValue
                }
            }
            columns.append((cell.columnName, value))
        }
        return RowJSON(columns: columns)
    }

    // MARK: Leases

    /// A job taken by this node: its id, and the node whose expired lease it replaces (nil for a fresh job).
    struct Taken: Sendable, Equatable {
        let videoID: String
        let previousNode: String?
    }

    /// Takes the next runnable job: processing (not a receiving upload, not a retry waiting for its time, not a
    /// retry whose originals still wait in `failed/`), with no live lease, whose owner is below their running cap
    /// across all nodes, highest priority then oldest first; stamps this node's lease in the same transaction.
    /// `SKIP LOCKED` lets every node take at once without waiting on each other. `skipping` are ids this node cannot
    /// start now. The cap is the owner's `users.max_running_jobs`, none for an admin or an ownerless job, else
    /// `defaultRunningCap` (0 = none); two nodes taking at the same instant may pass it by one for a moment.
    func take(skipping: [String] = [], defaultRunningCap: Int = 0) async throws -> Taken? {
        let node = self.node, lease = leaseSeconds
        return try await transaction { c, logger in
            let rows = try await c.query("""
                SELECT v.video_id, v.locked_by FROM videos v
                WHERE v.status = 'processing' AND v.phase <> 'receiving' AND v.finished_at IS NULL
                  AND (v.phase <> 'retrying' OR v.next_attempt_at IS NULL OR v.next_attempt_at <= \(unescaped: Self.nowText))
                  AND (v.locked_by IS NULL OR v.lease_until IS NULL OR v.lease_until < \(unescaped: Self.nowText))
                  AND v.video_id <> ALL(\(skipping))
                  AND (COALESCE(v.username, v.user_id, '') = ''
                       OR (SELECT count(*) FROM videos r
                           WHERE COALESCE(r.username, r.user_id, '') = COALESCE(v.username, v.user_id, '')
                             AND r.status = 'processing' AND r.locked_by IS NOT NULL AND r.lease_until >= \(unescaped: Self.nowText))
                          < COALESCE(NULLIF(COALESCE(
                              (SELECT COALESCE(u.max_running_jobs, CASE WHEN u.is_admin <> 0 THEN 0 END)
                               FROM users u WHERE u.username = v.username AND u.revoked_at IS NULL),
                              \(defaultRunningCap)), 0), 2147483647))
                ORDER BY v.priority DESC, v.created_at, v.video_id
                LIMIT 1 FOR UPDATE OF v SKIP LOCKED
                """, logger: logger)
            var found: Taken?
            for try await (id, previous) in rows.decode((String, String?).self) { found = Taken(videoID: id, previousNode: previous) }
            guard let found else { return nil }
            try await c.query("""
                UPDATE videos SET locked_by = \(node), lease_until = \(unescaped: Self.leaseText(lease)) WHERE video_id = \(found.videoID)
                """, logger: logger)
            return found
        }
    }

    /// Gives a taken job back untouched (this node cannot start it now), so another node may take it.
    func release(_ id: String) async throws {
        try await client.query("""
            UPDATE videos SET locked_by = NULL, lease_until = NULL WHERE video_id = \(id) AND \(unescaped: ours)
            """, logger: logger)
    }

    /// The heartbeat: extends this node's leases of `ids` (the jobs queued or running here); returns how many. A
    /// lease of a job no longer here (held back after a failed write, given back when the release failed) is left to
    /// run out, so any node takes the job again.
    @discardableResult
    func renewLeases(_ ids: [String]) async throws -> Int {
        try await Self.changed(try await client.query("""
            UPDATE videos SET lease_until = \(unescaped: Self.leaseText(leaseSeconds))
            WHERE \(unescaped: ours) AND status = 'processing' AND video_id = ANY(\(ids)) RETURNING video_id
            """, logger: logger))
    }

    /// Which of `ids` (jobs running here) another node now holds: this node's lease ran out and was taken over.
    func takenOver(_ ids: [String]) async throws -> [String] {
        let rows = try await client.query("""
            SELECT video_id FROM videos WHERE video_id = ANY(\(ids)) AND status = 'processing'
              AND locked_by IS NOT NULL AND locked_by <> \(node)
            """, logger: logger)
        var out: [String] = []
        for try await id in rows.decode(String.self) { out.append(id) }
        return out
    }

    /// At start: leases a previous run of this node (same `[store] node`) left behind are given up, so its jobs
    /// run again at once instead of after the lease.
    @discardableResult
    func releaseOwnLeases() async throws -> Int {
        try await Self.changed(try await client.query("""
            UPDATE videos SET locked_by = NULL, lease_until = NULL WHERE \(unescaped: ours) RETURNING video_id
            """, logger: logger))
    }

    /// The database's clock in the `Timestamp` format: every node compares leases on the same clock.
    static let nowText = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    static func leaseText(_ seconds: Int) -> String {
        "to_char((now() + interval '\(seconds) seconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    }
}

private extension Optional {
    func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
