import Store

/// Where the receiver records an accepted upload: the job store (the SQLite file's single writer, or the shared
/// PostgreSQL store). The row must be committed before the sidecar appears (the watcher then finds a row for the
/// drop) and before the 202, so a client's first status poll already finds the job.
protocol UploadJournal: Sendable {
    func recordAcceptedUpload(_ row: VideoRow) async throws
    func video(_ id: String) async throws -> VideoRow?
    /// The user's jobs in processing, for `max_queued_jobs`.
    func processingCount(username: String) async throws -> Int
}

/// Resumable (tus) uploads keep their `uploads` row beside the job's, on either store.
protocol ResumableJournal: UploadJournal {

    func createResumableUpload(video: VideoRow, upload: UploadRow) async throws
    func resumableUpload(_ id: String) async throws -> UploadRow?
    func resumableUploadsReceiving() async throws -> [UploadRow]
    func recordUploadOffset(_ id: String, offset: Int64, expiresAt: String) async throws
    /// Progress while a chunk streams in (not yet durable): the job's `progress` only.
    func recordUploadProgress(_ id: String, _ progress: Double) async throws
    func completeResumableUpload(_ id: String) async throws
    func endResumableUpload(_ id: String, state: UploadState, error: String, reason: FailureReason) async throws
}
