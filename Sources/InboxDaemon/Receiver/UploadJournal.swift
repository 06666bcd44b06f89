import Store

/// Where the receiver records an accepted upload: the daemon's single db writer. The row must be committed
/// before the sidecar appears (the watcher then finds a row for the drop) and before the 202, so a client's
/// first status poll already finds the job.
protocol UploadJournal: Sendable {
    func recordAcceptedUpload(_ row: VideoRow) async throws
}
