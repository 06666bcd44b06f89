import GRDB

/// The state changes of a job. Each appends its audit entry to `events` on the same connection, so inside the
/// caller's transaction the log and the row never disagree. `now` is the change's ISO 8601 time.
extension VideoQueries {
    /// A new job's row and its first audit entry. `onConflict: .replace` overwrites a row with that id.
    public static func insert(_ db: Database, _ row: VideoRow, message: String?,
                              onConflict: Database.ConflictResolution? = nil) throws {
        try row.insert(db, onConflict: onConflict)
        try EventRow(videoID: row.videoID, status: row.status, phase: row.phase, message: message).insert(db)
    }

    /// A claim adopts the row the HTTP receiver made earlier: the claimed drop's sidecar and source URL win.
    public static func adopt(_ db: Database, _ row: VideoRow, message: String, now: String = Timestamp.string()) throws {
        try db.execute(
            sql: "UPDATE videos SET sidecar = COALESCE(?, sidecar), source_url = COALESCE(?, source_url), priority = ?, updated_at = ? WHERE video_id = ?",
            arguments: [row.sidecar, row.sourceURL, row.priority, now, row.videoID])
        try EventRow(videoID: row.videoID, status: row.status, phase: row.phase, message: message).insert(db)
    }

    /// Starts an attempt: processing, phase queued, attempts + 1, error cleared. Nil when the row is gone.
    public static func startAttempt(_ db: Database, _ id: String, now: String = Timestamp.string()) throws -> VideoRow? {
        try db.execute(sql: """
            UPDATE videos SET status = ?, phase = ?, progress = 0, error = NULL, failure_reason = NULL,
              next_attempt_at = NULL, attempts = attempts + 1, started_at = ?, finished_at = NULL, updated_at = ?
            WHERE video_id = ?
            """, arguments: [JobStatus.processing, JobPhase.queued, now, now, id])
        guard let row = try row(db, id) else { return nil }
        try EventRow(videoID: id, status: .processing, phase: .queued, message: "attempt \(row.attempts) started").insert(db)
        return row
    }

    /// A transient failure: the job stays `processing` in phase `retrying` until `next`.
    public static func markRetrying(_ db: Database, _ id: String, error: String, reason: FailureReason, next: String,
                                    now: String = Timestamp.string()) throws {
        try db.execute(sql: """
            UPDATE videos SET phase = ?, error = ?, failure_reason = ?, next_attempt_at = ?, updated_at = ?
            WHERE video_id = ? AND status = ?
            """, arguments: [JobPhase.retrying, error, reason, next, now, id, JobStatus.processing])
        try EventRow(videoID: id, status: .processing, phase: .retrying, message: "retry at \(next): \(error)").insert(db)
    }

    public static func setPhase(_ db: Database, _ id: String, _ phase: JobPhase, progress: Double,
                                now: String = Timestamp.string()) throws {
        try db.execute(
            sql: "UPDATE videos SET phase = ?, progress = ?, updated_at = ? WHERE video_id = ? AND status = ?",
            arguments: [phase, progress, now, id, JobStatus.processing])
        try EventRow(videoID: id, status: .processing, phase: phase, message: nil).insert(db)
    }

    /// The master playlist was published while the job runs: `preview_url` is (re)set, `playable_at` keeps the first
    /// time (a re-run after a crash publishes the same master again). Logged once per attempt as "playable".
    public static func markPlayable(_ db: Database, _ id: String, previewURL: String, now: String = Timestamp.string()) throws {
        try db.execute(sql: """
            UPDATE videos SET preview_url = ?, playable_at = COALESCE(playable_at, ?), updated_at = ?
            WHERE video_id = ? AND status = ?
            """, arguments: [previewURL, now, now, id, JobStatus.processing])
        guard db.changesCount > 0 else { return }
        let phase = try JobPhase.fetchOne(db, sql: "SELECT phase FROM videos WHERE video_id = ?", arguments: [id])
        try EventRow(videoID: id, status: .processing, phase: phase, message: "playable: \(previewURL)").insert(db)
    }

    /// Progress within a phase: too frequent for the audit log.
    public static func setProgress(_ db: Database, _ id: String, _ progress: Double, now: String = Timestamp.string()) throws {
        try db.execute(
            sql: "UPDATE videos SET progress = ?, updated_at = ? WHERE video_id = ? AND status = ?",
            arguments: [progress, now, id, JobStatus.processing])
    }

    /// What probing found.
    public static func setMediaInfo(_ db: Database, _ id: String, durationS: Double?, width: Int?, height: Int?,
                                    videoCodec: String?, audioCodec: String?, sizeBytes: Int64?,
                                    now: String = Timestamp.string()) throws {
        try db.execute(sql: """
            UPDATE videos SET duration_s = ?, width = ?, height = ?, video_codec = ?, audio_codec = ?,
              size_bytes = ?, updated_at = ? WHERE video_id = ?
            """, arguments: [durationS, width, height, videoCodec, audioCodec, sizeBytes, now, id])
    }

    public static func markReady(_ db: Database, _ id: String, videoURL: String, thumbnailURL: String,
                                 now: String = Timestamp.string()) throws {
        try db.execute(sql: """
            UPDATE videos SET status = ?, phase = ?, progress = 1.0, video_url = ?, thumbnail_url = ?,
              error = NULL, failure_reason = NULL, finished_at = ?, updated_at = ? WHERE video_id = ?
            """, arguments: [JobStatus.ready, JobPhase.done, videoURL, thumbnailURL, now, now, id])
        try EventRow(videoID: id, status: .ready, phase: .done, message: videoURL).insert(db)
    }

    /// Fails a job; it keeps the phase it failed in, and so does its audit entry.
    public static func markFailed(_ db: Database, _ id: String, error: String, reason: FailureReason,
                                  now: String = Timestamp.string()) throws {
        try db.execute(sql: """
            UPDATE videos SET status = ?, error = ?, failure_reason = ?, next_attempt_at = NULL,
              finished_at = ?, updated_at = ? WHERE video_id = ?
            """, arguments: [JobStatus.failed, error, reason, now, now, id])
        let phase = try JobPhase.fetchOne(db, sql: "SELECT phase FROM videos WHERE video_id = ?", arguments: [id])
        try EventRow(videoID: id, status: .failed, phase: phase, message: error).insert(db)
    }

    /// Back to the queue state without counting the interrupted attempt (a shutdown, not a crash).
    public static func requeue(_ db: Database, _ id: String, message: String, now: String = Timestamp.string()) throws {
        try db.execute(sql: """
            UPDATE videos SET phase = ?, progress = 0, attempts = max(attempts - 1, 0), updated_at = ?
            WHERE video_id = ? AND status = ?
            """, arguments: [JobPhase.queued, now, id, JobStatus.processing])
        try EventRow(videoID: id, status: .processing, phase: .queued, message: message).insert(db)
    }

    /// A retry requested by SQL: a fresh attempt budget, counted from here.
    public static func resetAttempts(_ db: Database, _ id: String) throws {
        try db.execute(sql: "UPDATE videos SET attempts = 0, finished_at = NULL, next_attempt_at = NULL WHERE video_id = ?",
                       arguments: [id])
    }

    /// `inboxd retry`: failed → processing (phase queued, a fresh attempt budget).
    public static func requestRetry(_ db: Database, _ id: String, now: String = Timestamp.string()) throws {
        try db.execute(sql: """
            UPDATE videos SET status = ?, phase = ?, progress = 0, error = NULL, attempts = 0, updated_at = ?
            WHERE video_id = ?
            """, arguments: [JobStatus.processing, JobPhase.queued, now, id])
        try EventRow(videoID: id, status: .processing, phase: .queued, message: "retry requested").insert(db)
    }
}
