import Foundation
import GRDB
import Pipeline
import Store

/// The daemon's single writer to the job db. Every state change is one transaction (its statements are
/// `VideoQueries`') that also appends to `events`, so the audit log and the row never disagree, and queues the
/// webhooks the change causes (`WebhookOutbox`) in that same transaction. GRDB runs the SQLite calls on its own
/// queue, off Swift's cooperative pool.
final class JobStore: JobStoring {
    let pool: DatabasePool
    let outbox: WebhookOutbox
    /// Every commit of `pool`: the status API's snapshot sees the daemon's writes through it (`StatusStore`).
    let commits = CommitCounter()

    init(path: String, outbox: WebhookOutbox = .none) throws {
        pool = try StoreDatabase.openWriter(path: path)
        self.outbox = outbox
        commits.observe(pool)
    }

    /// Records a claimed drop. A row made earlier by the HTTP receiver (status processing) is adopted; any other
    /// existing row with that id is a duplicate.
    func recordClaim(_ row: VideoRow) async throws {
        let outbox = self.outbox
        try await pool.write { db in try Self.recordClaim(db, row, outbox: outbox) }
    }

    /// Records a burst of claims in one transaction (one commit instead of one per drop). Returns the duplicates
    /// (by video id), which are not recorded; the others are. Throws only when the transaction as a whole fails.
    func recordClaims(_ rows: [VideoRow]) async throws -> [String: AdoptError] {
        let outbox = self.outbox
        return try await pool.write { db in
            var duplicates: [String: AdoptError] = [:]
            for row in rows {
                // `recordClaim` checks before it writes, so a duplicate leaves nothing behind to roll back.
                do { try Self.recordClaim(db, row, outbox: outbox) } catch let e as AdoptError { duplicates[row.videoID] = e }
            }
            return duplicates
        }
    }

    private static func recordClaim(_ db: Database, _ row: VideoRow, outbox: WebhookOutbox) throws {
        if let existing = try VideoQueries.claimState(db, row.videoID) {
            // A resumable upload still receiving is not a drop yet: a sidecar naming its id is a duplicate.
            guard existing.status == .processing, existing.phase != .receiving else {
                throw AdoptError.duplicate(videoID: row.videoID, status: existing.status)
            }
            try VideoQueries.adopt(db, row, message: "claimed")
        } else {
            try VideoQueries.insert(db, row, message: "claimed")
            try outbox.record(db, videoID: row.videoID, event: .processing)
        }
    }

    /// Inserts a row for a new job that is already known to be bad (bad sidecar, symlink, orphan).
    func recordRejected(_ row: VideoRow, error: String, reason: FailureReason) async throws {
        let failed = row.rejected(error: error, reason: reason)
        let outbox = self.outbox
        try await pool.write { db in
            try VideoQueries.insert(db, failed, message: error, onConflict: .replace)
            try outbox.record(db, videoID: failed.videoID, event: .failed)
        }
    }

    func row(_ id: String) async throws -> VideoRow? {
        try await pool.read { db in try VideoQueries.row(db, id) }
    }

    /// Starts an attempt: status processing, attempts + 1 (counted before the work, so a drop that kills the
    /// process is known by its count on the next start), error cleared. With every attempt used, the job fails
    /// instead: `crashed` when the last attempt never ended (the process died), else the last retry's reason.
    func startAttempt(_ id: String, maxAttempts: Int) async throws -> AttemptStart {
        let outbox = self.outbox
        return try await pool.write { db in
            guard let current = try VideoQueries.row(db, id) else { return .vanished }
            if current.attempts >= maxAttempts {
                let (reason, message) = AttemptStart.exhaustion(of: current)
                try VideoQueries.markFailed(db, id, error: message, reason: reason)
                try outbox.record(db, videoID: id, event: .failed)
                return .exhausted(reason, message)
            }
            guard let row = try VideoQueries.startAttempt(db, id) else { return .vanished }
            try outbox.record(db, videoID: id, event: .processing)
            return .started(row)
        }
    }

    /// A transient failure: the job stays `processing` in phase `retrying` until `at`; `error` and
    /// `failure_reason` say what it waits out.
    func markRetrying(_ id: String, error: String, reason: FailureReason, at: Date) async throws {
        let outbox = self.outbox
        try await pool.write { db in
            try VideoQueries.markRetrying(db, id, error: error, reason: reason, next: Timestamp.string(at))
            try outbox.record(db, videoID: id, event: .processing)
        }
    }

    /// Ids of jobs in `retrying` whose time has not come yet.
    func retriesNotDue(now: Date) async throws -> Set<String> {
        try await pool.read { db in try VideoQueries.retriesNotDue(db, now: Timestamp.string(now)) }
    }

    /// Which of `ids` have a row.
    func existing(_ ids: [String]) async throws -> Set<String> {
        try await pool.read { db in try VideoQueries.existing(db, ids) }
    }

    func setPhase(_ id: String, _ phase: JobPhase, progress: Double) async throws {
        let outbox = self.outbox
        try await pool.write { db in
            try VideoQueries.setPhase(db, id, phase, progress: progress)
            try outbox.record(db, videoID: id, event: .processing)
        }
    }

    func setProgress(_ id: String, _ progress: Double) async throws {
        try await pool.write { db in try VideoQueries.setProgress(db, id, progress) }
    }

    func setMediaInfo(_ id: String, _ info: MediaInfo) async throws {
        try await pool.write { db in
            try VideoQueries.setMediaInfo(db, id, durationS: info.durationSeconds, width: info.width, height: info.height,
                                          videoCodec: info.videoCodec, audioCodec: info.audioCodec, sizeBytes: info.sizeBytes)
        }
    }

    func recordAnalytics(_ id: String, _ analytics: JobAnalytics) async throws {
        try await pool.write { db in try VideoQueries.setAnalytics(db, id, analytics) }
    }

    /// The scheduler's view of a queued job: owner, priority, age and the owner's running cap.
    func queueEntry(_ id: String) async throws -> VideoQueries.QueueEntry? {
        try await pool.read { db in try VideoQueries.queueEntry(db, id) }
    }

    func queueEntries(_ ids: [String]) async throws -> [String: VideoQueries.QueueEntry] {
        try await pool.read { db in try VideoQueries.queueEntries(db, ids) }
    }

    /// A user's jobs in `processing`.
    func processingCount(username: String) async throws -> Int {
        try await pool.read { db in try VideoQueries.processingCount(db, username: username) }
    }

    /// The active user named `username`, if any.
    func user(_ username: String) async throws -> UserRow? {
        try await pool.read { db in try UserQueries.active(db, username: username) }
    }

    func markReady(_ id: String, _ published: PublishedVideo) async throws {
        let outbox = self.outbox
        try await pool.write { db in
            try VideoQueries.markReady(db, id, videoURL: published.videoURL, thumbnailURL: published.thumbnailURL ?? "")
            try outbox.record(db, videoID: id, event: .ready)
        }
    }

    /// The preview (master of the segments so far) is published: `preview_url`, `playable_at`, audit "playable".
    func markPlayable(_ id: String, previewURL: String) async throws {
        try await pool.write { db in try VideoQueries.markPlayable(db, id, previewURL: previewURL) }
    }

    /// Marks a job failed; it keeps the phase it failed in.
    func markFailed(_ id: String, error: String, reason: FailureReason) async throws {
        let outbox = self.outbox
        try await pool.write { db in
            try VideoQueries.markFailed(db, id, error: error, reason: reason)
            try outbox.record(db, videoID: id, event: .failed)
        }
    }

    /// Puts an interrupted job back in the queue state (shutdown), so the next start resumes it. The interrupted
    /// attempt is not counted: only attempts the process did not live through count towards `crashed`.
    func requeue(_ id: String, reason: String) async throws {
        let outbox = self.outbox
        try await pool.write { db in
            try VideoQueries.requeue(db, id, message: reason)
            try outbox.record(db, videoID: id, event: .processing)
        }
    }

    /// Rows in `processing`, oldest first.
    func processingRows() async throws -> [VideoQueries.ProcessingRow] {
        try await pool.read { db in try VideoQueries.processingRows(db) }
    }

    func processingJobs() async throws -> [VideoRow] {
        try await pool.read { db in
            try VideoRow.filter(Column("status") == JobStatus.processing.rawValue).order(Column("created_at"), Column("video_id")).fetchAll(db)
        }
    }

    /// A retry requested by SQL: a fresh attempt budget, counted from here.
    func resetAttempts(_ id: String) async throws {
        try await pool.write { db in try VideoQueries.resetAttempts(db, id) }
    }

    /// `inboxd retry`: failed → processing (phase queued); the running daemon picks the rows up.
    func retry(ids: [String]?) async throws -> [String] {
        let outbox = self.outbox
        return try await pool.write { db in
            let targets = try VideoQueries.failedIDs(db, among: ids)
            for id in targets {
                try VideoQueries.requestRetry(db, id)
                try outbox.record(db, videoID: id, event: .processing)
            }
            return targets
        }
    }
}
