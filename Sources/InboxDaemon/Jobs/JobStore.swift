import Foundation
import GRDB
import Pipeline
import Store

/// The daemon's single writer to the job db. Every state change is one transaction that also appends to
/// `events`, so the audit log and the row never disagree. GRDB runs the SQLite calls on its own queue, off
/// Swift's cooperative pool.
final class JobStore: Sendable {
    let pool: DatabasePool

    init(path: String) throws {
        pool = try StoreDatabase.openWriter(path: path)
    }

    enum AdoptError: Error, CustomStringConvertible {
        case duplicate(videoID: String, status: String)
        var description: String {
            switch self {
            case .duplicate(let id, let status): "video_id \(id) already exists (status \(status))"
            }
        }
    }

    /// Records a claimed drop. A row made earlier by the HTTP receiver (status processing) is adopted; any other
    /// existing row with that id is a duplicate.
    func recordClaim(_ row: VideoRow) async throws {
        try await pool.write { db in
            if let existing = try VideoRow.fetchOne(db, key: row.video_id) {
                guard existing.status == JobStatus.processing.rawValue else {
                    throw AdoptError.duplicate(videoID: row.video_id, status: existing.status)
                }
                try db.execute(
                    sql: "UPDATE videos SET sidecar = COALESCE(?, sidecar), source_url = COALESCE(?, source_url), updated_at = ? WHERE video_id = ?",
                    arguments: [row.sidecar, row.source_url, Timestamp.string(), row.video_id])
            } else {
                try row.insert(db)
            }
            try EventRow(videoID: row.video_id, status: row.status, phase: row.phase, message: "claimed").insert(db)
        }
    }

    /// Inserts a row for a new job that is already known to be bad (bad sidecar, symlink, orphan).
    func recordRejected(_ row: VideoRow, error: String, reason: FailureReason) async throws {
        var r = row
        r.status = JobStatus.failed.rawValue
        r.error = error
        r.failure_reason = reason.rawValue
        r.finished_at = Timestamp.string()
        let failed = r
        try await pool.write { db in
            try failed.insert(db, onConflict: .replace)
            try EventRow(videoID: failed.video_id, status: failed.status, phase: failed.phase, message: error).insert(db)
        }
    }

    func row(_ id: String) async throws -> VideoRow? {
        try await pool.read { db in try VideoRow.fetchOne(db, key: id) }
    }

    enum AttemptStart {
        case started(VideoRow)
        /// `max_attempts` attempts were used up; the row is now failed with this reason.
        case exhausted(FailureReason, String)
        case vanished
    }

    /// Starts an attempt: status processing, attempts + 1 (counted before the work, so a drop that kills the
    /// process is known by its count on the next start), error cleared. With every attempt used, the job fails
    /// instead: `crashed` when the last attempt never ended (the process died), else the last retry's reason.
    func startAttempt(_ id: String, maxAttempts: Int) async throws -> AttemptStart {
        try await pool.write { db in
            let now = Timestamp.string()
            guard let current = try VideoRow.fetchOne(db, key: id) else { return .vanished }
            if current.attempts >= maxAttempts {
                let reason: FailureReason
                let message: String
                if current.phase == JobPhase.retrying.rawValue {
                    reason = current.failure_reason.flatMap(FailureReason.init(rawValue:)) ?? .other
                    message = "gave up after \(current.attempts) attempts: \(current.error ?? "transient failure")"
                } else {
                    reason = .crashed
                    message = "inboxd stopped during each of \(current.attempts) attempts (the last in phase \(current.phase)); "
                        + "not retried again. The input may crash libav or exhaust memory."
                }
                try db.execute(sql: """
                    UPDATE videos SET status = 'failed', error = ?, failure_reason = ?, next_attempt_at = NULL,
                      finished_at = ?, updated_at = ? WHERE video_id = ?
                    """, arguments: [message, reason.rawValue, now, now, id])
                try EventRow(videoID: id, status: "failed", phase: current.phase, message: message).insert(db)
                return .exhausted(reason, message)
            }
            try db.execute(sql: """
                UPDATE videos SET status = 'processing', phase = 'queued', progress = 0, error = NULL, failure_reason = NULL,
                  next_attempt_at = NULL, attempts = attempts + 1, started_at = ?, finished_at = NULL, updated_at = ?
                WHERE video_id = ?
                """, arguments: [now, now, id])
            guard let row = try VideoRow.fetchOne(db, key: id) else { return .vanished }
            try EventRow(videoID: id, status: "processing", phase: "queued", message: "attempt \(row.attempts) started").insert(db)
            return .started(row)
        }
    }

    /// A transient failure: the job stays `processing` in phase `retrying` until `at`; `error` and
    /// `failure_reason` say what it waits out.
    func markRetrying(_ id: String, error: String, reason: FailureReason, at: Date) async throws {
        try await pool.write { db in
            let now = Timestamp.string()
            let next = Timestamp.string(at)
            try db.execute(sql: """
                UPDATE videos SET phase = 'retrying', error = ?, failure_reason = ?, next_attempt_at = ?, updated_at = ?
                WHERE video_id = ? AND status = 'processing'
                """, arguments: [error, reason.rawValue, next, now, id])
            try EventRow(videoID: id, status: "processing", phase: "retrying", message: "retry at \(next): \(error)").insert(db)
        }
    }

    /// Ids of jobs in `retrying` whose time has not come yet.
    func retriesNotDue(now: Date = Date()) async throws -> Set<String> {
        try await pool.read { db in
            Set(try String.fetchAll(db, sql: """
                SELECT video_id FROM videos WHERE phase = 'retrying' AND status = 'processing' AND next_attempt_at > ?
                """, arguments: [Timestamp.string(now)]))
        }
    }

    /// Which of `ids` have a row.
    func existing(_ ids: [String]) async throws -> Set<String> {
        try await pool.read { db in
            var found = Set<String>()
            for chunk in stride(from: 0, to: ids.count, by: 500) {
                let part = Array(ids[chunk..<min(chunk + 500, ids.count)])
                let marks = Array(repeating: "?", count: part.count).joined(separator: ",")
                found.formUnion(try String.fetchAll(db, sql: "SELECT video_id FROM videos WHERE video_id IN (\(marks))",
                                                    arguments: StatementArguments(part)))
            }
            return found
        }
    }

    func setPhase(_ id: String, _ phase: JobPhase, progress: Double) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE videos SET phase = ?, progress = ?, updated_at = ? WHERE video_id = ? AND status = 'processing'",
                arguments: [phase.rawValue, progress, Timestamp.string(), id])
            try EventRow(videoID: id, status: "processing", phase: phase.rawValue, message: nil).insert(db)
        }
    }

    func setProgress(_ id: String, _ progress: Double) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE videos SET progress = ?, updated_at = ? WHERE video_id = ? AND status = 'processing'",
                arguments: [progress, Timestamp.string(), id])
        }
    }

    func setMediaInfo(_ id: String, _ info: MediaInfo) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE videos SET duration_s = ?, width = ?, height = ?, video_codec = ?, audio_codec = ?,
                  size_bytes = ?, updated_at = ? WHERE video_id = ?
                """, arguments: [info.durationSeconds, info.width, info.height, info.videoCodec, info.audioCodec,
                                 info.sizeBytes, Timestamp.string(), id])
        }
    }

    func markReady(_ id: String, _ published: PublishedVideo) async throws {
        try await pool.write { db in
            let now = Timestamp.string()
            try db.execute(sql: """
                UPDATE videos SET status = 'ready', phase = 'done', progress = 1.0, video_url = ?, thumbnail_url = ?,
                  error = NULL, failure_reason = NULL, finished_at = ?, updated_at = ? WHERE video_id = ?
                """, arguments: [published.videoURL, published.thumbnailURL ?? "", now, now, id])
            try EventRow(videoID: id, status: "ready", phase: "done", message: published.videoURL).insert(db)
        }
    }

    /// Marks a job failed; it keeps the phase it failed in.
    func markFailed(_ id: String, error: String, reason: FailureReason) async throws {
        try await pool.write { db in
            let now = Timestamp.string()
            try db.execute(
                sql: "UPDATE videos SET status = 'failed', error = ?, failure_reason = ?, next_attempt_at = NULL, finished_at = ?, updated_at = ? WHERE video_id = ?",
                arguments: [error, reason.rawValue, now, now, id])
            let phase = try String.fetchOne(db, sql: "SELECT phase FROM videos WHERE video_id = ?", arguments: [id])
            try EventRow(videoID: id, status: "failed", phase: phase, message: error).insert(db)
        }
    }

    /// Puts an interrupted job back in the queue state (shutdown), so the next start resumes it. The interrupted
    /// attempt is not counted: only attempts the process did not live through count towards `crashed`.
    func requeue(_ id: String, reason: String) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE videos SET phase = 'queued', progress = 0, attempts = max(attempts - 1, 0), updated_at = ? WHERE video_id = ? AND status = 'processing'",
                arguments: [Timestamp.string(), id])
            try EventRow(videoID: id, status: "processing", phase: "queued", message: reason).insert(db)
        }
    }

    struct ProcessingRow {
        let id: String
        /// An admin or `inboxd retry` set a finished (failed) row back to `processing`: re-run it from `failed/<id>/`.
        let retryRequested: Bool
        let updatedAt: String
    }

    /// Rows in `processing`, oldest first.
    func processingRows() async throws -> [ProcessingRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT video_id, finished_at IS NOT NULL AS finished, updated_at FROM videos
                WHERE status = 'processing' ORDER BY created_at
                """).map { ProcessingRow(id: $0["video_id"], retryRequested: $0["finished"], updatedAt: $0["updated_at"]) }
        }
    }

    /// A retry requested by SQL: a fresh attempt budget, counted from here.
    func resetAttempts(_ id: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE videos SET attempts = 0, finished_at = NULL, next_attempt_at = NULL WHERE video_id = ?",
                           arguments: [id])
        }
    }

    /// `inboxd retry`: failed → processing (phase queued); the running daemon picks the rows up.
    func retry(ids: [String]?) async throws -> [String] {
        try await pool.write { db in
            let targets: [String]
            if let ids {
                targets = try ids.filter {
                    try String.fetchOne(db, sql: "SELECT status FROM videos WHERE video_id = ?", arguments: [$0]) == "failed"
                }
            } else {
                targets = try String.fetchAll(db, sql: "SELECT video_id FROM videos WHERE status = 'failed'")
            }
            for id in targets {
                try db.execute(
                    sql: "UPDATE videos SET status = 'processing', phase = 'queued', progress = 0, error = NULL, attempts = 0, updated_at = ? WHERE video_id = ?",
                    arguments: [Timestamp.string(), id])
                try EventRow(videoID: id, status: "processing", phase: "queued", message: "retry requested").insert(db)
            }
            return targets
        }
    }
}
