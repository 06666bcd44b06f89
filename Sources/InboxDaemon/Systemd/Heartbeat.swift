import Foundation
import Synchronization

/// The time a loop last went round, for the systemd watchdog: each loop the daemon must keep alive (the scheduler's
/// recovery sweep, the watcher) beats once per iteration, and the watchdog is fed only while every beat is recent.
/// A wedged loop stops beating, the pings stop, and systemd restarts the daemon.
final class Heartbeat: Sendable {
    let name: String
    private let last: Atomic<Int64>

    /// Starts fresh: a loop gets its first interval to come round.
    init(_ name: String) {
        self.name = name
        last = Atomic(Self.now())
    }

    func beat() { last.store(Self.now(), ordering: .relaxed) }

    var secondsSinceBeat: Double { Double(Self.now() - last.load(ordering: .relaxed)) / 1e9 }

    private static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
