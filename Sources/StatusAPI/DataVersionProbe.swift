import Dispatch
import GRDB
import Synchronization

/// `PRAGMA data_version` of the db (it changes whenever another connection commits), asked at most once per
/// `recheckInterval`. Each ask is a read transaction: two `fcntl` locks on the WAL index and a wait on the probe's
/// serial queue when two requests ask at once, about a tenth of a `/status` poll's cost at 30,000 polls a second.
/// Within the interval the last answer stands, so a commit by another process is seen at most that late; the
/// daemon's own commits need no ask (`CommitCounter`).
final class DataVersionProbe: Sendable {
    let recheckNanoseconds: UInt64
    private let db: DatabaseQueue
    /// The last answer and the monotonic time its ask began.
    private let last = Mutex<(version: Int64, askedAt: UInt64)?>(nil)

    init(db: DatabaseQueue, recheckInterval: Duration) {
        self.db = db
        let (seconds, attoseconds) = recheckInterval.components
        recheckNanoseconds = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    /// Synchronous on the caller's thread: no hop to another thread, as an async read would make.
    func dataVersion() throws -> Int64 {
        let now = DispatchTime.now().uptimeNanoseconds
        if recheckNanoseconds > 0 {
            let recent = last.withLock { $0.flatMap { now &- $0.askedAt < recheckNanoseconds ? $0.version : nil } }
            if let recent { return recent }
        }
        let version = try db.inDatabase { db in try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? 0 }
        last.withLock { stored in
            // Asks may finish out of order: the newest ask is kept, with the larger version (it only grows).
            if let previous = stored {
                if now > previous.askedAt { stored = (max(version, previous.version), now) }
            } else {
                stored = (version, now)
            }
        }
        return version
    }
}
