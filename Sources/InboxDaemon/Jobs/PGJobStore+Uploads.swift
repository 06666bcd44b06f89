import Foundation
import Logging
import PostgresNIO
import Store

/// Resumable (tus) uploads on the shared store: the `uploads` row beside the job's, each change of the upload's state
/// in one transaction with its job's row and audit entry, as `UploadQueries` does on SQLite. The bytes live in the
/// shared inbox's `uploads/<id>/` (`UploadArea`), so any node serves any upload: the offset comes from that file, and
/// the directory's lock (`DirectoryLock`) keeps two nodes from appending at once. Every end of an upload is
/// conditional on its row still `receiving`, so of several nodes settling one upload (the sweepers, a DELETE racing an
/// expiry) one wins.
extension PGJobStore: ResumableJournal {
    func createResumableUpload(video: VideoRow, upload u: UploadRow) async throws {
        let outbox = self.outbox
        try await transaction { c, logger in
            try await Self.insert(c, video, message: "resumable upload created (\(u.uploadLength) bytes expected)", replace: false, logger: logger)
            try await c.query("""
                INSERT INTO uploads (video_id, state, upload_length, upload_offset, metadata, media_name, user_id, username,
                  created_at, updated_at, expires_at, completed_at)
                VALUES (\(u.videoID), \(u.state.rawValue), \(u.uploadLength), \(u.uploadOffset), \(u.metadata), \(u.mediaName),
                  \(u.userID), \(u.username), \(u.createdAt), \(u.updatedAt), \(u.expiresAt), \(u.completedAt))
                """, logger: logger)
            try await outbox.record(c, videoID: video.videoID, event: .processing, logger: logger)
        }
    }

    func resumableUpload(_ id: String) async throws -> UploadRow? {
        try await Self.uploads(client.query("SELECT \(unescaped: Self.uploadColumns) FROM uploads WHERE video_id = \(id)", logger: logger)).first
    }

    func resumableUploadsReceiving() async throws -> [UploadRow] {
        try await Self.uploads(client.query("""
            SELECT \(unescaped: Self.uploadColumns) FROM uploads WHERE state = 'receiving' ORDER BY created_at
            """, logger: logger))
    }

    static let uploadColumns = """
        video_id, state, upload_length, upload_offset, metadata, media_name, user_id, username, created_at, updated_at, \
        expires_at, completed_at
        """

    /// Rows of `uploadColumns`.
    private static func uploads(_ rows: PostgresRowSequence) async throws -> [UploadRow] {
        var out: [UploadRow] = []
        for try await (id, state, length, offset, metadata, media, userID, username, created, updated, expires, completed)
            in rows.decode((String, String, Int64, Int64, String, String, String?, String?, String, String, String, String?).self) {
            guard let s = UploadState(rawValue: state) else {
                throw StoreError.cannotOpen(path: "PostgreSQL", reason: "uploads.state has unknown value '\(state)'")
            }
            var u = UploadRow(videoID: id, uploadLength: length, metadata: metadata, mediaName: media, userID: userID, username: username,
                              expiresAt: expires, createdAt: created)
            u.state = s
            u.uploadOffset = offset
            u.updatedAt = updated
            u.completedAt = completed
            out.append(u)
        }
        return out
    }

    func recordUploadOffset(_ id: String, offset: Int64, expiresAt: String) async throws {
        let now = Timestamp.string()
        try await transaction { c, logger in
            try await c.query("""
                UPDATE uploads SET upload_offset = \(offset), expires_at = \(expiresAt), updated_at = \(now)
                WHERE video_id = \(id) AND state = 'receiving'
                """, logger: logger)
            try await c.query("""
                UPDATE videos SET progress = \(offset)::float8 / GREATEST((SELECT upload_length FROM uploads WHERE video_id = \(id)), 1),
                  updated_at = \(now) WHERE video_id = \(id) AND status = 'processing' AND phase = 'receiving'
                """, logger: logger)
        }
    }

    /// A receiving job holds no lease: its progress is written without `setProgress`'s lease check.
    func recordUploadProgress(_ id: String, _ progress: Double) async throws {
        try await client.query("""
            UPDATE videos SET progress = \(progress), updated_at = \(Timestamp.string())
            WHERE video_id = \(id) AND status = 'processing' AND phase = 'receiving'
            """, logger: logger)
    }

    func completeResumableUpload(_ id: String) async throws {
        let now = Timestamp.string()
        try await transaction { c, logger in
            let completed = try await c.query("""
                UPDATE uploads SET state = 'complete', upload_offset = upload_length, completed_at = \(now), updated_at = \(now)
                WHERE video_id = \(id) AND state = 'receiving' RETURNING upload_length
                """, logger: logger)
            var lengths: [Int64] = []
            for try await length in completed.decode(Int64.self) { lengths.append(length) }
            guard let length = lengths.first else { return }
            try await c.query("""
                UPDATE videos SET phase = 'queued', progress = 0, updated_at = \(now)
                WHERE video_id = \(id) AND status = 'processing' AND phase = 'receiving'
                """, logger: logger)
            try await Self.event(c, id, .processing, .queued, "upload complete (\(length) bytes)", logger: logger)
        }
    }

    func endResumableUpload(_ id: String, state: UploadState, error: String, reason: FailureReason) async throws {
        let outbox = self.outbox
        try await transaction { c, logger in
            let ended = try await Self.changed(try await c.query("""
                UPDATE uploads SET state = \(state.rawValue), updated_at = \(Timestamp.string())
                WHERE video_id = \(id) AND state = 'receiving' RETURNING video_id
                """, logger: logger))
            guard ended > 0, let row = try await Self.row(c, id, logger: logger, forUpdate: true) else { return }
            try await Self.fail(c, row, error: error, reason: reason, logger: logger)
            try await outbox.record(c, videoID: id, event: .failed, logger: logger)
        }
    }
}
