import GRDB
import Synchronization

/// Counts the commits of one writer connection (a GRDB transaction observer that observes no rows, so it costs
/// nothing per statement). The status API's snapshot compares it per request instead of asking SQLite: the daemon's
/// own writes are seen by the very next read, at the cost of an atomic load (`StatusStore`).
public final class CommitCounter: TransactionObserver, Sendable {
    private let commits = Atomic<UInt64>(0)

    public init() {}

    /// Commits counted so far.
    public var value: UInt64 { commits.load(ordering: .acquiring) }

    /// Counts every commit of `writer` from now on, for as long as the writer lives.
    public func observe(_ writer: some DatabaseWriter) {
        writer.add(transactionObserver: self, extent: .databaseLifetime)
    }

    public func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
    public func databaseDidChange(with event: DatabaseEvent) {}
    public func databaseDidCommit(_ db: Database) { commits.add(1, ordering: .releasing) }
    public func databaseDidRollback(_ db: Database) {}
}
