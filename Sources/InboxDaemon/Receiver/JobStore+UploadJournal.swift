import GRDB
import Store

extension JobStore: UploadJournal {
    /// The receiver's row: inserted (never replaced) with its first audit entry, in one transaction. The claim
    /// later adopts it (`recordClaim`).
    func recordAcceptedUpload(_ row: VideoRow) async throws {
        let outbox = self.outbox
        try await pool.write { db in
            try VideoQueries.insert(db, row, message: "accepted by the HTTP receiver")
            try outbox.record(db, videoID: row.videoID, event: .processing)
        }
    }
}
