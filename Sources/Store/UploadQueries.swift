import GRDB

/// Every statement over `uploads`, and the `videos` changes a resumable upload makes: each change of an upload's
/// state changes its job's row in the same transaction (the caller's), with an audit entry.
public enum UploadQueries {
    public static func upload(_ db: Database, _ id: String) throws -> UploadRow? {
        try UploadRow.fetchOne(db, key: id)
    }

    /// A new upload: its job's row (phase `receiving`) and the upload's row.
    public static func create(_ db: Database, video: VideoRow, upload: UploadRow) throws {
        try VideoQueries.insert(db, video, message: "resumable upload created (\(upload.uploadLength) bytes expected)")
        try upload.insert(db)
    }

    /// Bytes made durable: the offset, the new expiry, and the job's progress (offset / length).
    public static func recordOffset(_ db: Database, _ id: String, offset: Int64, expiresAt: String,
                                    now: String = Timestamp.string()) throws {
        try db.execute(sql: """
            UPDATE uploads SET upload_offset = ?, expires_at = ?, updated_at = ? WHERE video_id = ? AND state = ?
            """, arguments: [offset, expiresAt, now, id, UploadState.receiving])
        try db.execute(sql: """
            UPDATE videos SET progress = CAST(? AS REAL) / MAX((SELECT upload_length FROM uploads WHERE video_id = ?), 1),
              updated_at = ? WHERE video_id = ? AND status = ? AND phase = ?
            """, arguments: [offset, id, now, id, JobStatus.processing, JobPhase.receiving])
    }

    /// The last byte arrived: the upload is complete and its job waits for a worker, as a drop from any producer.
    public static func complete(_ db: Database, _ id: String, now: String = Timestamp.string()) throws {
        try db.execute(sql: """
            UPDATE uploads SET state = ?, upload_offset = upload_length, completed_at = ?, updated_at = ?
            WHERE video_id = ? AND state = ?
            """, arguments: [UploadState.complete, now, now, id, UploadState.receiving])
        guard db.changesCount > 0 else { return }
        try db.execute(sql: """
            UPDATE videos SET phase = ?, progress = 0, updated_at = ? WHERE video_id = ? AND status = ? AND phase = ?
            """, arguments: [JobPhase.queued, now, id, JobStatus.processing, JobPhase.receiving])
        let length = try Int64.fetchOne(db, sql: "SELECT upload_length FROM uploads WHERE video_id = ?", arguments: [id]) ?? 0
        try EventRow(videoID: id, status: .processing, phase: .queued, message: "upload complete (\(length) bytes)").insert(db)
    }

    /// An upload that ends without its data (expired, terminated, lost): its job fails with `reason`.
    /// Returns whether it ended a receiving upload (and so failed its job).
    @discardableResult
    public static func end(_ db: Database, _ id: String, state: UploadState, error: String, reason: FailureReason,
                           now: String = Timestamp.string()) throws -> Bool {
        try db.execute(sql: "UPDATE uploads SET state = ?, updated_at = ? WHERE video_id = ? AND state = ?",
                       arguments: [state, now, id, UploadState.receiving])
        guard db.changesCount > 0 else { return false }
        try VideoQueries.markFailed(db, id, error: error, reason: reason, now: now)
        return true
    }

    /// Uploads still receiving data, oldest first.
    public static func receiving(_ db: Database) throws -> [UploadRow] {
        try UploadRow.fetchAll(db, sql: "SELECT * FROM uploads WHERE state = ? ORDER BY created_at", arguments: [UploadState.receiving])
    }
}
