import Foundation
import Logging
import ServiceLifecycle
import Store

/// Looks after resumable uploads no request is working on, every `recovery_poll_seconds` and at start: expires
/// those idle past `Upload-Expires` (bytes removed, job failed `upload_expired`), and settles what a crash left —
/// an unverified checksummed chunk is cut away, an upload whose last byte is durable becomes its drop, a drop cut
/// short between its renames is finished, and a row whose data is gone fails `lost`. An incomplete upload survives
/// a restart untouched (its row stays `receiving`), so its client resumes from `HEAD`.
struct UploadSweeper: Service {
    let uploads: ResumableUploads
    let layout: InboxLayout
    let pollSeconds: Double
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await sweep()
            try? await Task.sleep(for: .seconds(pollSeconds))
        }
    }

    func sweep(now: Date = Date()) async {
        let area = uploads.area, pool = uploads.pool
        let ids: [String]
        do { ids = try await pool.runIfActive { try area.ids() } } catch {
            logger.error("cannot list the upload area", metadata: ["inbox.path": "\(area.root)", "error": "\(error)"])
            return
        }
        for id in ids { await settle(id, now: now) }
        // A row still receiving whose directory is gone (removed by hand, a lost disk): nothing can resume it.
        let present = Set(ids)
        for upload in (try? await uploads.journal.resumableUploadsReceiving()) ?? [] where !present.contains(upload.videoID) {
            guard await uploads.active.begin(upload.videoID) else { continue }
            if (try? await pool.runIfActive { FileSystem.status(area.dir(upload.videoID)) == nil }) == true {
                try? await uploads.end(upload, .lost, reason: .lost,
                                       error: "resumable upload's data is gone from \(area.dir(upload.videoID))", logger: logger)
            }
            await uploads.active.end(upload.videoID)
        }
    }

    /// Looks without taking anything first: a healthy upload in progress is never locked by the sweeper, so its
    /// client's next PATCH is not refused (423) because a sweep happened to hold it.
    private func settle(_ id: String, now: Date) async {
        guard await !uploads.active.isBusy(id), await needsAttention(id, now: now) else { return }
        guard await uploads.active.begin(id) else { return }
        await settleLocked(id, now: now)
        await uploads.active.end(id)
    }

    private func needsAttention(_ id: String, now: Date) async -> Bool {
        let area = uploads.area
        guard let upload = try? await uploads.journal.resumableUpload(id) else { return true }
        guard upload.state == .receiving else { return true }
        if let expires = Timestamp.date(upload.expiresAt), expires < now { return true }
        let facts = try? await uploads.pool.runIfActive { (area.hasData(id), area.offset(id), area.hasPendingChecksum(id)) }
        guard let (hasData, offset, pending) = facts else { return false }
        return !hasData || offset == upload.uploadLength || pending
    }

    private func settleLocked(_ id: String, now: Date) async {
        let area = uploads.area, pool = uploads.pool, layout = self.layout
        guard let lock = try? await pool.runIfActive({ DirectoryLock(path: area.dir(id)) }) else { return }
        defer { withExtendedLifetime(lock) {} }
        do {
            guard let upload = try await uploads.journal.resumableUpload(id) else {
                // A creation that died before its row: the directory alone, after a grace period.
                _ = try await pool.runIfActive {
                    if let st = FileSystem.status(area.dir(id)), now.timeIntervalSince1970 - st.mtime > 60 { area.remove(id) }
                }
                return
            }
            switch upload.state {
            case .receiving:
                let offset = try await pool.runIfActive { () -> Int64? in
                    guard area.hasData(id) else { return nil }
                    try area.repair(id)
                    return area.offset(id)
                }
                if let offset {
                    if offset == upload.uploadLength {
                        try await uploads.complete(upload, logger: logger)
                    } else if let expires = Timestamp.date(upload.expiresAt), expires < now {
                        let hours = uploads.expirySeconds / 3600
                        try await uploads.end(upload, .expired, reason: .uploadExpired, error: String(
                            format: "upload expired: no data for %g h, %lld of %lld bytes had arrived", hours, offset, upload.uploadLength),
                            logger: logger)
                    }
                } else if try await pool.runIfActive({ FileSystem.status(layout.incoming + "/" + upload.mediaName) != nil }) {
                    try await uploads.complete(upload, logger: logger)  // the media was renamed in before a crash
                } else {
                    try await uploads.end(upload, .lost, reason: .lost, error: "resumable upload's data is gone from \(area.dir(id))", logger: logger)
                }
            case .complete:
                // The row says complete; the sidecar may not have followed the media before a crash (and no claim took it).
                let sidecarMissing = try await pool.runIfActive {
                    FileSystem.status(layout.incoming + "/" + upload.mediaName) != nil
                        && FileSystem.status(layout.incoming + "/" + upload.mediaName + ".json") == nil
                        && FileSystem.status(layout.processing(id)) == nil && FileSystem.status(layout.failed(id)) == nil
                }
                if sidecarMissing { try await uploads.complete(upload, logger: logger) } else { _ = try await pool.runIfActive { area.remove(id) } }
            case .expired, .terminated, .lost:
                _ = try await pool.runIfActive { area.remove(id) }
            }
        } catch {
            logger.error("cannot settle a resumable upload; retrying", metadata: ["job.id": "\(id)", "error": "\(error)"])
        }
    }
}
