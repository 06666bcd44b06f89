import Foundation
import GRDB
import Store

/// The status API's only handles on the job db, both opened read-only, so no route can write, whatever its bug.
/// `db`, one serial connection (the fastest on 2 cores), serves the point reads clients poll (`/status`,
/// `/healthz`, one video, bearer-token lookups); `bulk`, a pool of readers, serves the scans and the long-lived
/// pollers (`/metrics`, lists, events, SSE), so a slow scrape or many streams never delay a status read.
/// `/status` answers come from `snapshot` (nil: off), checked against the daemon writer's commit count (`commits`)
/// and the db's `PRAGMA data_version` on `probe`, a connection of its own so the check never waits behind another
/// read.
public struct StatusStore: StatusReading {
    public let db: DatabaseQueue
    public let bulk: DatabasePool
    public let snapshot: StatusSnapshot?
    let probe: DataVersionProbe
    let commits: CommitCounter?

    /// `cacheEntries`: the snapshot's bound (`status_cache_entries`); 0 turns it off. `commits`: the commits of the
    /// daemon's writer, seen by the next read without asking SQLite; with them, `recheckInterval` is how long a
    /// `PRAGMA data_version` answer stands for the commits of other processes (0: asked on every read).
    public init(path: String, cacheEntries: Int = StatusStore.defaultCacheEntries, commits: CommitCounter? = nil,
                recheckInterval: Duration = .zero) throws {
        db = try StoreDatabase.openReader(path: path)
        bulk = try StoreDatabase.openReaderPool(path: path)
        // Without the writer's count, every read asks: the daemon's own commits would otherwise be seen late too.
        probe = DataVersionProbe(db: try StoreDatabase.openReader(path: path),
                                 recheckInterval: commits == nil ? .zero : recheckInterval)
        self.commits = commits
        snapshot = cacheEntries > 0 ? StatusSnapshot(capacity: max(cacheEntries, 2)) : nil
    }

    public static let defaultCacheEntries = 4096
    /// How late the daemon sees a commit made by another process (`inboxd retry`, admin SQL through `sqlite3`).
    public static let daemonRecheckInterval = Duration.milliseconds(1)

    /// For SSE streams' polling (on `bulk`).
    public func video(_ id: String) async throws -> VideoRow? {
        try await bulk.read { db in try VideoQueries.row(db, id) }
    }

    /// The live feeds poll the SQLite file every `StatusFeed.pollInterval`: no mark, no wake-up.
    public func changeMark() -> UInt64 { 0 }
    public func waitForChange(since mark: UInt64) async throws { try await Task.sleep(for: StatusFeed.pollInterval) }

    /// `/healthz`: the db answers.
    public func ping() async throws {
        _ = try await db.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    /// One job's audit log, oldest first; nil when there is no such job.
    public func events(_ id: String) async throws -> [RowJSON]? {
        try await bulk.read { db in try VideoQueries.events(db, videoID: id)?.map(RowJSON.init) }
    }

    /// The whole row, every column, for `GET /api/videos/{id}`.
    public func videoJSON(_ id: String) async throws -> RowJSON? {
        try await db.read { db in try VideoQueries.wholeRow(db, id).map(RowJSON.init) }
    }
}

/// What the per-job status routes read (`/healthz`, `/status`, the whole row, the audit log, the live feeds): the
/// SQLite reader (`StatusStore`) or, on a node of several, the shared PostgreSQL store.
public protocol StatusReading: StatusFeedStore {
    func ping() async throws
    func status(_ id: String) async throws -> StatusResponse?
    /// The encoded `/status` answer, from a snapshot where the store keeps one.
    func statusAnswer(_ id: String, now: Date) async throws -> StatusAnswer?
    func videoJSON(_ id: String) async throws -> RowJSON?
    func events(_ id: String) async throws -> [RowJSON]?
}

extension StatusReading {
    /// Encoded on each request: the PostgreSQL store keeps no snapshot (other nodes write behind its back).
    public func statusAnswer(_ id: String, now: Date) async throws -> StatusAnswer? {
        try await status(id).map { try StatusAnswer($0) }
    }
}
