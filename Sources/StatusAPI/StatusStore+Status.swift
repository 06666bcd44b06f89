import Foundation
import GRDB
import Store

extension StatusStore {
    /// The `/status` answer straight from the columns it shows (`VideoQueries.statusColumns`: a cached prepared
    /// statement, no whole-row decoding), on the route clients poll most.
    public func status(_ id: String) async throws -> StatusResponse? {
        try await db.read { db in try VideoQueries.statusColumns(db, id).map { try StatusResponse(row: $0) } }
    }

    /// The `/status` answer, from the snapshot while the db's version is the one its entries were read at. A commit
    /// of the daemon's writer (`commits`) is seen by the next read; one by another process (an `inboxd` command,
    /// `sqlite3`) within `recheckInterval` (1 ms in the daemon, 0 = every read).
    public func statusAnswer(_ id: String, now: Date) async throws -> StatusAnswer? {
        guard let snapshot else { return try await status(id).map { try StatusAnswer($0) } }
        // The writer's count first: the db version taken after it is at least as new.
        let local = commits?.value ?? 0
        let version = StatusSnapshot.Version(data: try probe.dataVersion(), local: local)
        if let entry = snapshot.entry(id, version: version) { return entry.answer(now: now) }
        // Read after the version was taken: at least as new as it, so the entry may carry it.
        guard let entry = try await db.read({ db in try VideoQueries.statusColumns(db, id).map(StatusSnapshot.Entry.init) })
        else { return nil }
        snapshot.store(entry, for: id, version: version)
        return entry.answer(now: now)
    }
}
