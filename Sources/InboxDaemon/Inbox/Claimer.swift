import Foundation
import Logging
import Store

/// A job that this process owns: its directory in `processing/` and the lock that proves it.
struct ClaimedJob: Sendable {
    let videoID: String
    let lock: DirectoryLock
}

/// Claims complete drops by `rename(2)` into `processing/<id>/` and rejects bad ones into `failed/<id>/`.
///
/// The claim point is the rename of the sidecar: whoever renames it first owns the drop, so several daemons on
/// one inbox never process a drop twice. The new job directory is locked before that rename, so another
/// daemon's resume scan never mistakes a claim in progress for an abandoned job.
final class Claimer: Sendable {
    struct Candidate: Sendable {
        var sidecarPath: String
        var mediaPath: String
        /// The per-user subdirectory the drop came from; it wins over the sidecar's `username`.
        var user: String?
        var thumbnailPath: String?
    }

    /// Written into a job directory so a claim cut short by a crash can fetch its media on resume.
    static let originFile = ".origin"

    private let layout: InboxLayout
    private let store: JobStore
    private let logger: Logger
    private let onClaimed: @Sendable (ClaimedJob) async -> Void

    init(layout: InboxLayout, store: JobStore, logger: Logger, onClaimed: @escaping @Sendable (ClaimedJob) async -> Void) {
        self.layout = layout
        self.store = store
        self.logger = logger
        self.onClaimed = onClaimed
    }

    /// Claims a complete drop. Returns false when it could not take the drop *yet* (its `video_id` directory is
    /// busy: another daemon is claiming it, or an earlier job with that id is still in `processing/`); the
    /// watcher then tries again later. Returns true once the drop is claimed, failed, or gone.
    @discardableResult
    func claim(_ c: Candidate, sidecar: Sidecar, hasMedia: Bool) async -> Bool {
        let id = sidecar.videoID ?? UUID().uuidString.lowercased()
        let dir = layout.processing(id)
        do { try FileSystem.mkdir(dir) } catch {
            logger.debug("claim deferred: job directory exists", metadata: ["job.id": "\(id)", "error": "\(error)"])
            return false
        }
        guard let lock = DirectoryLock(path: dir) else {
            FileSystem.removeTree(dir)
            return false
        }
        do {
            try FileSystem.writeFile(dir + "/" + Self.originFile, Array(((c.sidecarPath as NSString).deletingLastPathComponent).utf8))
            try FileSystem.renameNoReplace(c.sidecarPath, dir + "/" + (c.sidecarPath as NSString).lastPathComponent)
        } catch {
            FileSystem.removeTree(dir) // lost the race: someone else renamed the sidecar first
            return true
        }
        var problem: String?
        if hasMedia {
            do { try FileSystem.renameNoReplace(c.mediaPath, dir + "/" + (c.mediaPath as NSString).lastPathComponent) } catch {
                problem = "media vanished before it could be claimed: \(error)"
            }
        }
        if let t = c.thumbnailPath, FileSystem.status(t)?.kind == .regular {
            try? FileSystem.renameNoReplace(t, dir + "/" + (t as NSString).lastPathComponent)
        }

        var row = VideoRow(
            videoID: id, title: sidecar.title, description: sidecar.description, userID: sidecar.userID,
            username: c.user ?? sidecar.username, visibility: sidecar.visibility,
            source: !hasMedia && sidecar.sourceURL != nil ? .url : .drop,
            sourceURL: sidecar.sourceURL, sidecar: sidecar.raw)
        if let problem {
            await fail(claimedDir: dir, row: row, reason: .io, message: problem)
            return true
        }
        do {
            try await store.recordClaim(row)
        } catch {
            row.video_id = UUID().uuidString.lowercased()
            await fail(claimedDir: dir, row: row, reason: error is JobStore.AdoptError ? .duplicateID : .other, message: "\(error)")
            return true
        }
        logger.info("drop claimed", metadata: ["job.id": "\(id)", "inbox.path": "\(c.sidecarPath)"])
        await onClaimed(ClaimedJob(videoID: id, lock: lock))
        return true
    }

    /// A drop that can never succeed: its files go to `failed/<id>/` untouched (a symlink is moved as a link,
    /// never followed) and a failed row says why.
    func reject(_ c: Candidate, sidecar: Sidecar?, reason: FailureReason, message: String) async {
        var id = sidecar?.videoID ?? UUID().uuidString.lowercased()
        if (try? await store.row(id)) != nil || FileSystem.status(layout.failed(id)) != nil { id = UUID().uuidString.lowercased() }
        let dir = layout.failed(id)
        do { try FileSystem.mkdir(dir) } catch {
            logger.error("cannot create failed dir", metadata: ["inbox.path": "\(dir)", "error": "\(error)"])
            return
        }
        for path in [c.sidecarPath, c.mediaPath] + (c.thumbnailPath.map { [$0] } ?? []) where FileSystem.status(path) != nil {
            try? FileSystem.renameNoReplace(path, dir + "/" + (path as NSString).lastPathComponent)
        }
        let fallbackTitle = (c.mediaPath as NSString).lastPathComponent
        let row = VideoRow(
            videoID: id, title: sidecar?.title ?? fallbackTitle, description: sidecar?.description ?? "",
            userID: sidecar?.userID, username: c.user ?? sidecar?.username, visibility: sidecar?.visibility ?? .draft,
            source: sidecar?.sourceURL != nil ? .url : .drop, sourceURL: sidecar?.sourceURL, sidecar: sidecar?.raw)
        await record(row, reason: reason, message: message)
    }

    private func fail(claimedDir: String, row: VideoRow, reason: FailureReason, message: String) async {
        try? FileSystem.renameNoReplace(claimedDir, layout.failed(row.video_id))
        await record(row, reason: reason, message: message)
    }

    private func record(_ row: VideoRow, reason: FailureReason, message: String) async {
        do { try await store.recordRejected(row, error: message, reason: reason) } catch {
            logger.error("cannot record failed drop", metadata: ["job.id": "\(row.video_id)", "error": "\(error)"])
        }
        logger.error("Background processing failed for video \(row.video_id): \(message)",
                     metadata: ["job.id": "\(row.video_id)", "failure.reason": "\(reason.rawValue)"])
    }
}
