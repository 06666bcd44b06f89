import Foundation
import GRDB
import Store

extension StatusStore {
    /// The `/status` answer straight from the columns it shows (`VideoQueries.statusColumns`: a cached prepared
    /// statement, no whole-row decoding), on the route clients poll most.
    public func status(_ id: String) async throws -> StatusResponse? {
        try await db.read { db in try VideoQueries.statusColumns(db, id).map { try StatusResponse(row: $0) } }
    }

    /// The `/status` answer, from the snapshot while the db's data version is the one its entries were read at.
    public func statusAnswer(_ id: String, now: Date) async throws -> StatusAnswer? {
        guard let snapshot else { return try await status(id).map { try StatusAnswer($0) } }
        let version = try dataVersion()
        if let entry = snapshot.entry(id, version: version) { return entry.answer(now: now) }
        // Read after the version was taken: at least as new as it, so the entry may carry it.
        guard let entry = try await db.read({ db in try VideoQueries.statusColumns(db, id).map(StatusSnapshot.Entry.init) })
        else { return nil }
        snapshot.store(entry, for: id, version: version)
        return entry.answer(now: now)
    }

    /// `PRAGMA data_version`: changes whenever another connection commits. Synchronous on the caller's thread: a
    /// read of the WAL index in shared memory (no file I/O), cheaper than the two thread hops of an async read.
    func dataVersion() throws -> Int64 {
        try probe.inDatabase { db in try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? 0 }
    }
}
