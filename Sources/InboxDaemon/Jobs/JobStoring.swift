import Foundation
import Pipeline
import Store

/// The job store as the daemon uses it: every state change of a job's lifecycle and the reads the scheduler,
/// the claimer and recovery make. Two implementations: `JobStore` (SQLite, the embedded default: one node) and
/// `PGJobStore` (PostgreSQL, `[store] url`: several nodes sharing one database, each running job held by a lease).
/// Every state change is one transaction that also appends its audit entry to `events`.
protocol JobStoring: Sendable {
    /// Records a claimed drop (status processing, phase queued). A row made earlier by the HTTP receiver is adopted;
    /// any other existing row with that id is a duplicate.
    func recordClaim(_ row: VideoRow) async throws
    /// A burst of claims in one transaction; returns the duplicates (not recorded).
    func recordClaims(_ rows: [VideoRow]) async throws -> [String: AdoptError]
    /// Inserts (or replaces) the row of a job already known to be bad, as failed.
    func recordRejected(_ row: VideoRow, error: String, reason: FailureReason) async throws
    func row(_ id: String) async throws -> VideoRow?
    /// Starts an attempt (attempts + 1), or fails the job when `maxAttempts` are used up.
    func startAttempt(_ id: String, maxAttempts: Int) async throws -> AttemptStart
    func markRetrying(_ id: String, error: String, reason: FailureReason, at: Date) async throws
    func retriesNotDue(now: Date) async throws -> Set<String>
    func existing(_ ids: [String]) async throws -> Set<String>
    func setPhase(_ id: String, _ phase: JobPhase, progress: Double) async throws
    func setProgress(_ id: String, _ progress: Double) async throws
    func setMediaInfo(_ id: String, _ info: MediaInfo) async throws
    func recordAnalytics(_ id: String, _ analytics: JobAnalytics) async throws
    func queueEntry(_ id: String) async throws -> VideoQueries.QueueEntry?
    /// `queueEntry` for a burst; ids without a row are missing from the answer.
    func queueEntries(_ ids: [String]) async throws -> [String: VideoQueries.QueueEntry]
    func processingCount(username: String) async throws -> Int
    func user(_ username: String) async throws -> UserRow?
    /// Exactly once to `ready`: on PostgreSQL only while this node still holds the job's lease (`LeaseLost` else).
    /// The master playlist was published while the job runs (`preview_url`, first `playable_at`, audit entry).
    func markPlayable(_ id: String, previewURL: String) async throws
    func markReady(_ id: String, _ published: PublishedVideo) async throws
    func markFailed(_ id: String, error: String, reason: FailureReason) async throws
    /// Back to the queue state without counting the interrupted attempt (shutdown).
    func requeue(_ id: String, reason: String) async throws
    func processingRows() async throws -> [VideoQueries.ProcessingRow]
    /// Whole rows of the jobs in `processing` (queued, running, retrying), oldest first: `inboxd status`.
    func processingJobs() async throws -> [VideoRow]
    func resetAttempts(_ id: String) async throws
    /// `inboxd retry`: failed → processing (phase queued); returns the ids set back.
    func retry(ids: [String]?) async throws -> [String]
}

extension JobStoring {
    func retriesNotDue() async throws -> Set<String> { try await retriesNotDue(now: Date()) }

    /// One `queueEntry` after another (a store that has no batched lookup).
    func queueEntries(_ ids: [String]) async throws -> [String: VideoQueries.QueueEntry] {
        var entries: [String: VideoQueries.QueueEntry] = [:]
        for id in ids { entries[id] = try await queueEntry(id) }
        return entries
    }

    /// A job's priority: `asked` (default 0), at most the owner's `max_priority` (0 for a name with no active user,
    /// or when the db cannot say). A drop with no owner came from someone who may write `incoming/` itself, so its
    /// priority is taken as asked.
    func priority(asked: Int?, owner: String?) async -> Int {
        guard let asked else { return 0 }
        guard let owner, !owner.isEmpty else { return asked }
        let user = (try? await self.user(owner)) ?? nil
        return min(asked, user?.maxPriority ?? 0)
    }
}

extension VideoRow {
    /// The row of a new job already known to be bad (bad sidecar, symlink, orphan): failed now, with why.
    func rejected(error: String, reason: FailureReason) -> VideoRow {
        var r = self
        r.status = .failed
        r.error = error
        r.failureReason = reason
        r.finishedAt = Timestamp.string()
        return r
    }
}

enum AdoptError: Error, CustomStringConvertible {
    case duplicate(videoID: String, status: JobStatus)
    var description: String {
        switch self {
        case .duplicate(let id, let status): "video_id \(id) already exists (status \(status))"
        }
    }
}

enum AttemptStart {
    case started(VideoRow)
    /// `max_attempts` attempts were used up; the row is now failed with this reason.
    case exhausted(FailureReason, String)
    case vanished

    /// Why a job whose attempts are used up fails: `crashed` when the last attempt never ended (the process died),
    /// else the last retry's reason.
    static func exhaustion(of current: VideoRow) -> (reason: FailureReason, message: String) {
        if current.phase == .retrying {
            return (current.failureReason ?? .other,
                    "gave up after \(current.attempts) attempts: \(current.error ?? "transient failure")")
        }
        return (.crashed, "inboxd stopped during each of \(current.attempts) attempts (the last in phase \(current.phase)); "
            + "not retried again. The input may crash libav or exhaust memory.")
    }
}

/// A node that lost a job's lease (it was too slow to renew it, and another node took the job over) must not
/// write that job's state: the other node's run is the one that counts.
struct LeaseLost: Error, CustomStringConvertible {
    let videoID: String
    let node: String
    var description: String { "job \(videoID): node \(node) no longer holds its lease (another node took the job over)" }

    /// How the heartbeat stops a running job whose lease another node took.
    static let cancelCause = CancelCause.other("another node took over the job's lease")
}
