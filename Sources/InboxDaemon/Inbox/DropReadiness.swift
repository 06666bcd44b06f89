import Foundation

/// What the watcher knows about one file in `incoming/`, built from inotify events.
///
/// inotify tells us *that* a writer opened, modified, closed or renamed a file; `lstat` tells us its size and
/// mtime. A file counts as complete when nobody has it open and either it was renamed into place (rsync,
/// the receiver), or its sidecar was completed after it was closed (the normal "sidecar last" order), or it
/// has been quiet for `settle_seconds` (in-place writers such as scp/sftp, and files found by a rescan).
struct TrackedFile {
    var openCount = 0
    var renamedIn = false
    /// When the file last became complete by a close-after-write or a rename.
    var completedAt: Double?
    /// Event order (not wall time: one inotify read can carry both files' events) of the last close-after-write
    /// or rename, to tell "media closed, then sidecar written" from the reverse.
    var closedSeq: Int?
    var completedSeq: Int?
    var lastActivity: Double
    var lastSize: Int64 = -1
    var lastMtime: Double = -1
    var stableSince: Double

    init(now: Double, mtime: Double? = nil) {
        lastActivity = mtime ?? now
        stableSince = mtime ?? now
    }

    mutating func apply(_ event: Inotify.Event, now: Double, seq: Int) {
        if event.has(IN_OPEN) { openCount += 1 }
        if event.has(IN_CLOSE_NOWRITE) { openCount = max(0, openCount - 1) }
        if event.has(IN_CLOSE_WRITE) {
            openCount = max(0, openCount - 1)
            completedAt = now
            closedSeq = seq
            completedSeq = seq
            renamedIn = false
            lastActivity = now
        }
        if event.has(IN_MODIFY) || event.has(IN_CREATE) {
            renamedIn = false
            completedAt = nil
            completedSeq = nil
            lastActivity = now
        }
        if event.has(IN_MOVED_TO) {
            openCount = 0
            renamedIn = true
            completedAt = now
            closedSeq = seq
            completedSeq = seq
            lastActivity = now
        }
    }

    /// Refreshes size/mtime from `lstat`; any change restarts the quiet period.
    mutating func observe(size: Int64, mtime: Double, now: Double) {
        if size != lastSize || mtime != lastMtime {
            if lastSize >= 0 { stableSince = now }
            lastSize = size
            lastMtime = mtime
        }
    }

    func quietFor(now: Double) -> Double { now - max(stableSince, lastActivity) }

    /// Complete on its own terms: nobody writing, and renamed in or quiet long enough.
    func isSettled(now: Double, settle: Double) -> Bool {
        openCount == 0 && (renamedIn || quietFor(now: now) >= settle)
    }

    /// Complete because its sidecar was completed after the last write to it.
    func isClosed(before sidecarCompletedSeq: Int?) -> Bool {
        guard openCount == 0, let closed = closedSeq, let sidecar = sidecarCompletedSeq else { return false }
        return closed < sidecar
    }
}

enum DropNames {
    /// Dot-files and known temp names (rsync, WinSCP, browsers, editors, our own receiver) are never claimed.
    static func isIgnored(_ name: String) -> Bool {
        if name.hasPrefix(".") || name.hasSuffix("~") { return true }
        let lower = name.lowercased()
        return [".tmp", ".part", ".partial", ".filepart", ".crdownload", ".swp"].contains { lower.hasSuffix($0) }
    }

    static func isSidecar(_ name: String) -> Bool {
        name.hasSuffix(".json") && name.count > 5 && !isIgnored(name)
    }
}
