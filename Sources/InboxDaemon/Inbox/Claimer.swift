import Foundation
import Logging
import Store
import Synchronization

/// A job that this process owns: its directory in `processing/` and the lock that proves it.
struct ClaimedJob: Sendable {
    let videoID: String
    /// The job directory's lock, held while the job is queued or runs here. A node of a shared store may run a job
    /// without it: there the lease is the arbiter (a stalled node on this host may still hold the lock).
    let lock: DirectoryLock?
    /// When it was queued here (its wait for a worker is the job's `queued_s`).
    var queuedAt = ContinuousClock.now
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

    /// Written into a job directory so a claim cut short by a crash can fetch its media on resume; only for a drop
    /// from a per-user subdirectory: without it the media is looked for in `incoming/` itself. Each file created
    /// costs an inode, and on this kind of filesystem (ext4 without a journal skips recently freed inodes one by one)
    /// inode allocation was the largest cost of a burst's claims.
    static let originFile = ".origin"

    private let layout: InboxLayout
    private let store: any JobStoring
    private let logger: Logger
    /// Gets each batch's claimed jobs at once (the queue looks their tickets up in one read).
    private let onClaimed: @Sendable ([ClaimedJob]) async -> Void
    private let onUnrecorded: @Sendable () -> Void
    private let io: BlockingIO
    /// Why a sidecar's `notify_url` is refused (nil: accepted); see `WebhookSettings.notifyURLRefusal`.
    private let notifyURLRefusal: @Sendable (String) -> String?
    /// Holds back drops of per-user subdirectories whose user's queue is full.
    let gate: QueueGate?
    /// When each path's last claim error was logged: a claim that keeps failing is retried on every tick, but
    /// logged at most every 30 s.
    private let lastComplaint = Mutex<[String: Double]>([:])

    init(layout: InboxLayout, store: any JobStoring, io: BlockingIO, logger: Logger, gate: QueueGate? = nil,
         notifyURLRefusal: @escaping @Sendable (String) -> String? = { _ in nil },
         onUnrecorded: @escaping @Sendable () -> Void, onClaimed: @escaping @Sendable ([ClaimedJob]) async -> Void) {
        self.io = io
        self.gate = gate
        self.notifyURLRefusal = notifyURLRefusal
        self.layout = layout
        self.store = store
        self.logger = logger
        self.onUnrecorded = onUnrecorded
        self.onClaimed = onClaimed
    }

    private func complain(_ message: Logger.Message, path: String, error: Error) {
        let now = Date().timeIntervalSince1970
        let due = lastComplaint.withLock { last -> Bool in
            if let t = last[path], now - t < 30 { return false }
            last[path] = now
            return true
        }
        if due { logger.error(message, metadata: ["inbox.path": "\(path)", "error": "\(error)"]) }
    }

    /// One complete drop to claim.
    struct Claim: Sendable {
        var candidate: Candidate
        var sidecar: Sidecar
        var hasMedia: Bool
    }

    /// Claims a burst of complete drops: their renames in one trip to the blocking-I/O pool, their rows in one
    /// transaction. Each drop's sidecar rename is still its own claim point, so the outcome per drop is the same as
    /// claiming them one by one; only the number of commits and thread hops shrinks. One Bool per drop: false when
    /// it could not take the drop *yet* (its user's queue is full, or its `video_id` directory is busy: another daemon
    /// is claiming it, or an earlier job with that id is still in `processing/`), and the watcher tries again later;
    /// true once the drop is claimed, failed, or gone.
    func claim(_ claims: [Claim]) async -> [Bool] {
        var done = claims.map { _ in true }
        var admitted: [Int] = []
        var admittedPerUser: [String: Int] = [:]
        for (i, claim) in claims.enumerated() {
            // A notify_url that could never be sent fails the drop before it is claimed, as a refused source_url would.
            if let url = claim.sidecar.notifyURL, let refusal = notifyURLRefusal(url) {
                done[i] = await reject(claim.candidate, sidecar: claim.sidecar, reason: .urlRefused, message: "sidecar field 'notify_url' refused: \(refusal)")
                continue
            }
            if let user = claim.candidate.user, let gate {
                // Drops of this burst already admitted count against the user's queue cap too.
                guard await gate.admits(user, alsoClaiming: admittedPerUser[user, default: 0]) else {
                    done[i] = false
                    continue
                }
                admittedPerUser[user, default: 0] += 1
            }
            admitted.append(i)
        }
        guard !admitted.isEmpty else { return done }
        let ids = claims.map { $0.sidecar.videoID ?? UUID().uuidString.lowercased() }
        let layout = self.layout
        let taking = admitted
        let taken: [Take]
        do {
            taken = try await io.run {
                taking.map { i in self.take(claims[i].candidate, into: layout.processing(ids[i]), hasMedia: claims[i].hasMedia) }
            }
        } catch {  // shutting down
            for i in admitted { done[i] = false }
            return done
        }

        var recorded: [(index: Int, row: VideoRow, lock: DirectoryLock?)] = []
        for (k, i) in admitted.enumerated() {
            let claim = claims[i]
            var row = VideoRow(
                videoID: ids[i], title: claim.sidecar.title, description: claim.sidecar.description, userID: claim.sidecar.userID,
                username: claim.candidate.user ?? claim.sidecar.username, visibility: claim.sidecar.visibility,
                source: !claim.hasMedia && claim.sidecar.sourceURL != nil ? .url : .drop,
                sourceURL: claim.sidecar.sourceURL, sidecar: claim.sidecar.raw)
            row.priority = await cappedPriority(claim.sidecar.priority, owner: row.username)
            switch taken[k] {
            case .later: done[i] = false
            case .lost: break
            case .taken(_, let problem?): await fail(claimedDir: layout.processing(ids[i]), row: row, reason: .io, message: problem)
            case .taken(let lock, nil): recorded.append((i, row, lock))
            }
        }
        guard !recorded.isEmpty else { return done }

        var duplicates: [String: AdoptError] = [:]
        do {
            duplicates = try await store.recordClaims(recorded.map(\.row))
            logger.debug("claims recorded", metadata: ["claim.count": "\(recorded.count)", "claim.duplicates": "\(duplicates.count)"])
        } catch {
            // The db cannot take the rows now (disk full, locked): the jobs are claimed all the same; the runner
            // makes each row from its sidecar when the db accepts it.
            for r in recorded {
                logger.error("cannot record claim yet; the job runs and records it later", metadata: ["job.id": "\(r.row.videoID)", "error": "\(error)"])
            }
        }
        var jobs: [ClaimedJob] = []
        jobs.reserveCapacity(recorded.count)
        for r in recorded {
            let id = r.row.videoID
            if let duplicate = duplicates[id] {
                var row = r.row
                row.videoID = UUID().uuidString.lowercased()
                await fail(claimedDir: layout.processing(id), row: row, reason: .duplicateID, message: duplicate.description)
                continue
            }
            logger.info("drop claimed", metadata: ["job.id": "\(id)", "inbox.path": "\(claims[r.index].candidate.sidecarPath)"])
            jobs.append(ClaimedJob(videoID: id, lock: r.lock))
        }
        if !jobs.isEmpty { await onClaimed(jobs) }
        return done
    }

    private func cappedPriority(_ asked: Int?, owner: String?) async -> Int {
        let priority = await store.priority(asked: asked, owner: owner)
        if let asked, priority < asked {
            logger.info("priority capped at the user's max_priority", metadata: [
                "user.name": "\(owner ?? "")", "job.priority_asked": "\(asked)", "job.priority": "\(priority)",
            ])
        }
        return priority
    }

    private enum Take: Sendable {
        /// Not now (the directory is busy, or a rename failed for a reason other than losing the race).
        case later
        /// Someone else renamed the sidecar first.
        case lost
        /// The lock is nil for `failed/<id>/`, which no resume scan looks at.
        case taken(DirectoryLock?, mediaProblem: String?)
    }

    /// The claim's renames, on the blocking-I/O pool: job directory, lock, origin note, sidecar, media, thumbnail.
    private func take(_ c: Candidate, into dir: String, hasMedia: Bool) -> Take {
        let took = takeSidecar(c, into: dir, locked: true) {
            // Drops from incoming/ itself need no note (one inode less per claim): a resume looks there by default.
            let origin = (c.sidecarPath as NSString).deletingLastPathComponent
            if origin != layout.incoming { try FileSystem.writeFile(dir + "/" + Self.originFile, Array(origin.utf8)) }
        }
        guard case .taken(let lock, _) = took else { return took }
        var problem: String?
        if hasMedia {
            do { try FileSystem.renameNoReplace(c.mediaPath, dir + "/" + (c.mediaPath as NSString).lastPathComponent) } catch {
                problem = "media vanished before it could be claimed: \(error)"
            }
        }
        if let t = c.thumbnailPath, FileSystem.status(t)?.kind == .regular {
            try? FileSystem.renameNoReplace(t, dir + "/" + (t as NSString).lastPathComponent)
        }
        return .taken(lock, mediaProblem: problem)
    }

    /// The claim point of every drop, claimed or rejected: makes `dir` (and locks it when it is a job directory), lets
    /// `note` write into it, then renames the sidecar into it. Whoever renames the sidecar first owns the drop; a
    /// daemon that finds it gone (`ENOENT`) lost the race to another one and leaves no trace: no directory, no row,
    /// no line above `debug`. The caller moves the drop's other files once it has won.
    private func takeSidecar(_ c: Candidate, into dir: String, locked: Bool, note: () throws -> Void) -> Take {
        do { try FileSystem.mkdir(dir) } catch let e as SystemError where e.code == EEXIST {
            logger.debug("claim deferred: its directory exists", metadata: ["inbox.path": "\(dir)", "error": "\(e)"])
            return .later
        } catch {
            complain("cannot claim drop: cannot create its directory; retrying", path: dir, error: error)
            return .later
        }
        var lock: DirectoryLock?
        if locked {
            guard let held = DirectoryLock(path: dir) else {
                FileSystem.removeTree(dir)
                return .later
            }
            lock = held
        }
        do {
            try note()
            try FileSystem.renameNoReplace(c.sidecarPath, dir + "/" + (c.sidecarPath as NSString).lastPathComponent)
        } catch let e as SystemError where e.code == ENOENT {
            FileSystem.removeTree(dir) // lost the race: someone else renamed the sidecar first
            logger.debug("drop taken by another daemon", metadata: ["inbox.path": "\(c.sidecarPath)"])
            return .lost
        } catch {
            FileSystem.removeTree(dir)
            complain("cannot claim drop; retrying", path: c.sidecarPath, error: error)
            return .later
        }
        return .taken(lock, mediaProblem: nil)
    }

    /// A drop that can never succeed: its files go to `failed/<id>/` untouched (a symlink is moved as a link,
    /// never followed) and a failed row says why. Its sidecar's rename is the claim point, as for a claim: of several
    /// daemons rejecting one drop, only the one that renamed it records the failure. Returns false when the drop could
    /// not be taken yet (its directory is busy, or the daemon is stopping): the watcher tries again later.
    func reject(_ c: Candidate, sidecar: Sidecar?, reason: FailureReason, message: String) async -> Bool {
        let wanted = sidecar?.videoID ?? UUID().uuidString.lowercased()
        let layout = self.layout
        let taken = (try? await io.run { FileSystem.status(layout.failed(wanted)) != nil }) ?? true
        let known = (try? await store.row(wanted)) != nil
        let id = taken || known ? UUID().uuidString.lowercased() : wanted
        let dir = layout.failed(id)
        let fallbackTitle = (c.mediaPath as NSString).lastPathComponent
        let row = VideoRow(
            videoID: id, title: sidecar?.title ?? fallbackTitle, description: sidecar?.description ?? "",
            userID: sidecar?.userID, username: c.user ?? sidecar?.username, visibility: sidecar?.visibility ?? .draft,
            source: sidecar?.sourceURL != nil ? .url : .drop, sourceURL: sidecar?.sourceURL, sidecar: sidecar?.raw)
        let note = FailureNote(row: row, message: message, reason: reason)
        guard let took = try? await io.run({ () -> Take in
            let took = self.takeSidecar(c, into: dir, locked: false) { _ = try? note.write(into: dir) }
            guard case .taken = took else { return took }
            for path in [c.mediaPath] + (c.thumbnailPath.map { [$0] } ?? []) where FileSystem.status(path) != nil {
                do { try FileSystem.renameNoReplace(path, dir + "/" + (path as NSString).lastPathComponent) } catch {
                    self.logger.error("cannot move a rejected file to failed/", metadata: ["inbox.path": "\(path)", "error": "\(error)"])
                }
            }
            return took
        }) else { return false }
        switch took {
        case .later: return false
        case .lost: return true
        case .taken: break
        }
        await record(row, in: dir, reason: reason, message: message)
        return true
    }

    /// A file whose name is not valid UTF-8: moved to `failed/<id>/` under an ASCII-escaped name (`caf\xE9.mp4`)
    /// and failed with a row that names it.
    func rejectBadName(_ path: [UInt8], incoming: String) async {
        let slash = path.lastIndex(of: UInt8(ascii: "/")) ?? -1
        let nameBytes = Array(path[(slash + 1)...])
        let dirBytes = Array(path[..<max(slash, 0)])
        let escaped = Self.escape(nameBytes)
        let id = UUID().uuidString.lowercased()
        let dir = layout.failed(id)
        let user = String(validating: dirBytes, as: UTF8.self).flatMap { $0 == incoming ? nil : ($0 as NSString).lastPathComponent }
        let message = "file name '\(escaped)' is not valid UTF-8; inboxd needs UTF-8 names (kept as failed/\(id)/\(escaped))"
        let row = VideoRow(videoID: id, title: escaped, username: user, source: .drop)
        let note = FailureNote(row: row, message: message, reason: .unsafeFile)
        let moved = try? await io.run { () -> Bool in
            do { try FileSystem.mkdir(dir) } catch {
                self.complain("cannot reject file: cannot create its failed/ directory; retrying", path: escaped, error: error)
                return false
            }
            try? note.write(into: dir)
            do { try FileSystem.renameNoReplace(raw: path, dir + "/" + escaped) } catch {
                // ENOENT: another daemon on this inbox moved it first, and records it.
                let lost = (error as? SystemError)?.code == ENOENT
                self.logger.log(level: lost ? .debug : .error, "cannot move a badly named file to failed/",
                                metadata: ["inbox.path": "\(escaped)", "error": "\(error)"])
                FileSystem.removeTree(dir)
                return false
            }
            return true
        }
        guard moved == true else { return }
        await record(row, in: dir, reason: .unsafeFile, message: message)
    }

    /// Printable ASCII as is, every other byte as `\xNN`.
    static func escape(_ bytes: [UInt8]) -> String {
        bytes.map { (0x20..<0x7f).contains($0) && $0 != UInt8(ascii: "\\") ? String(UnicodeScalar($0)) : String(format: "\\x%02X", $0) }
            .joined()
    }

    private func fail(claimedDir: String, row: VideoRow, reason: FailureReason, message: String) async {
        let dir = layout.failed(row.videoID)
        let note = FailureNote(row: row, message: message, reason: reason)
        _ = try? await io.run {
            try? note.write(into: claimedDir)
            do { try FileSystem.renameNoReplace(claimedDir, dir) } catch {
                self.logger.error("cannot move a failed claim to failed/", metadata: ["inbox.path": "\(claimedDir)", "error": "\(error)"])
            }
        }
        await record(row, in: dir, reason: reason, message: message)
    }

    private func record(_ row: VideoRow, in dir: String, reason: FailureReason, message: String) async {
        do {
            try await store.recordRejected(row, error: message, reason: reason)
            _ = try? await io.run { FailureNote.remove(from: dir) }
        } catch {
            logger.error("cannot record failed drop yet; recovery records it once the db accepts it",
                         metadata: ["job.id": "\(row.videoID)", "error": "\(error)"])
            onUnrecorded()
        }
        logger.error("Background processing failed for video \(row.videoID): \(message)",
                     metadata: ["job.id": "\(row.videoID)", "failure.reason": "\(reason.rawValue)"])
    }
}
