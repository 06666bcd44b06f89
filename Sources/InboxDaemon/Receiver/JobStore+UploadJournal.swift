import GRDB
import Store

extension JobStore: ResumableJournal {
    /// The receiver's row: inserted (never replaced) with its first audit entry, in one transaction. The claim
    /// later adopts it (`recordClaim`).
    func recordAcceptedUpload(_ row: VideoRow) async throws {
        let outbox = self.outbox
        try await pool.write { db in
            try VideoQueries.insert(db, row, message: "accepted by the HTTP receiver")
            try outbox.record(db, videoID: row.videoID, event: .processing)
        }
    }

    func createResumableUpload(video: VideoRow, upload: UploadRow) async throws {
        let outbox = self.outbox
        try await pool.write { db in
            try UploadQueries.create(db, video: video, upload: upload)
            try outbox.record(db, videoID: video.videoID, event: .processing)
        }
    }

    func resumableUpload(_ id: String) async throws -> UploadRow? {
        try await pool.read { db in try UploadQueries.upload(db, id) }
    }

    func resumableUploadsReceiving() async throws -> [UploadRow] {
        try await pool.read { db in try UploadQueries.receiving(db) }
    }

    func recordUploadOffset(_ id: String, offset: Int64, expiresAt: String) async throws {
        try await pool.write { db in try UploadQueries.recordOffset(db, id, offset: offset, expiresAt: expiresAt) }
    }

    func recordUploadProgress(_ id: String, _ progress: Double) async throws {
        try await setProgress(id, progress)
    }

    func completeResumableUpload(_ id: String) async throws {
        try await pool.write { db in try UploadQueries.complete(db, id) }
    }

    func endResumableUpload(_ id: String, state: UploadState, error: String, reason: FailureReason) async throws {
        let outbox = self.outbox
        try await pool.write { db in
            if try UploadQueries.end(db, id, state: state, error: error, reason: reason) {
                try outbox.record(db, videoID: id, event: .failed)
            }
        }
    }

    func video(_ id: String) async throws -> VideoRow? { try await row(id) }
}
