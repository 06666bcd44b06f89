import Foundation
import Logging
import Pipeline
import ServiceLifecycle
import Store
import Synchronization

/// `workers` jobs at once. On SIGTERM it stops taking jobs, gives running ones `shutdownGraceSeconds` to
/// finish, then cancels them; a cancelled job is put back (phase `queued`, directory kept in `processing/`)
/// and the next start resumes it.
final class WorkerPool: Service {
    private let queue: JobQueue
    private let runner: JobRunner
    private let workers: Int
    private let shutdownGraceSeconds: Double
    private let logger: Logger
    private let onJobEnd: @Sendable () -> Void

    init(queue: JobQueue, runner: JobRunner, workers: Int, shutdownGraceSeconds: Double, logger: Logger,
         onJobEnd: @escaping @Sendable () -> Void = {}) {
        self.onJobEnd = onJobEnd
        self.queue = queue
        self.runner = runner
        self.workers = workers
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.logger = logger
    }

    func run() async throws {
        let queue = self.queue
        let grace = shutdownGraceSeconds
        let logger = self.logger
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<workers {
                        group.addTask { await self.work() }
                    }
                }
            } onCancel: {
                // Another service failed (or the grace ran out): running jobs are put back at once.
                Task {
                    await queue.close()
                    await queue.cancelAll(.shutdown)
                }
            }
        } onGracefulShutdown: {
            Task {
                await queue.close()
                let running = await queue.running
                if running > 0 {
                    logger.notice("waiting for running jobs", metadata: ["jobs.running": "\(running)", "grace.s": "\(grace)"])
                }
                try? await Task.sleep(for: .seconds(grace))
                await queue.cancelAll(.shutdown)
            }
        }
    }

    private func work() async {
        while let job = await queue.next() {
            let control = JobControl()
            await queue.started(job.videoID, control: control)
            await runner.run(job, control: control)
            await queue.finished(job.videoID)
            onJobEnd()
        }
    }
}

/// Finds work that is not running anywhere: job directories in `processing/` whose lock nobody holds (a crash,
/// or a second daemon that died), and rows an admin set back to `processing` whose originals wait in
/// `failed/<id>/` (the recovery SQL, `inboxd retry`). Runs at start, after an inotify overflow, and every
/// `recovery_poll_seconds`, so a retry needs no restart.
final class Recovery: Service {
    private let layout: InboxLayout
    private let store: any JobStoring
    private let queue: JobQueue
    private let pollSeconds: Double
    private let io: BlockingIO
    private let logger: Logger
    private let onSweep: @Sendable () -> Void
    /// Beats after every sweep: the scheduler's proof of progress for the systemd watchdog.
    let heartbeat = Heartbeat("scheduler")
    /// Test-only fault hook: `INBOXD_TEST_WEDGE=scheduler` stops this loop after its first sweep (until a stop), as a
    /// hung db or disk would, so a test can see the watchdog pings stop.
    private static let wedged = ProcessInfo.processInfo.environment["INBOXD_TEST_WEDGE"] == "scheduler"

    /// A store shared by several nodes (PostgreSQL): jobs reach the workers through leases (`JobPuller`), not
    /// through directory locks; a job made runnable here (a retry moved back from `failed/`) is announced by
    /// `onRunnable` instead of queued.
    private let shared: Bool
    private let onRunnable: @Sendable () -> Void

    init(layout: InboxLayout, store: any JobStoring, queue: JobQueue, pollSeconds: Double, io: BlockingIO, logger: Logger,
         shared: Bool = false, onRunnable: @escaping @Sendable () -> Void = {}, onSweep: @escaping @Sendable () -> Void = {}) {
        self.onSweep = onSweep
        self.shared = shared
        self.onRunnable = onRunnable
        self.io = io
        self.layout = layout
        self.store = store
        self.queue = queue
        self.pollSeconds = pollSeconds
        self.logger = logger
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await sweep()
            heartbeat.beat()
            if Self.wedged {
                logger.critical("INBOXD_TEST_WEDGE=scheduler: the recovery loop stops here (test fault hook)")
                try? await gracefulShutdown()
                return
            }
            try? await Task.sleep(for: .seconds(pollSeconds))
        }
    }

    /// Set when a failed drop could not be recorded: the next sweep looks for `failed/<id>/` without a row.
    private let failedNeedScan = Atomic<Bool>(true)

    func failedDropUnrecorded() { failedNeedScan.store(true, ordering: .relaxed) }

    func sweep() async {
        onSweep()
        let now = Date().timeIntervalSince1970
        let notDue: Set<String>
        do { notDue = try await store.retriesNotDue() } catch {
            logger.error("recovery cannot read the db", metadata: ["error": "\(error)"])
            return
        }
        let layout = self.layout, logger = self.logger
        let claimed: [String]
        do { claimed = try await io.run { try FileSystem.listDirectoryChecked(layout.processingRoot) } } catch {
            logger.error("cannot list processing/", metadata: ["error": "\(error)"])
            return
        }
        var candidates = await queue.untracked(among: claimed.sorted().filter { !$0.hasPrefix(".") && !notDue.contains($0) })
        if shared {
            // Leases, not directory locks, say who runs a job: only a claim without a row is looked at here.
            guard let known = try? await store.existing(candidates) else { return }
            candidates.removeAll { known.contains($0) }
        }
        // Lock on the pool: a job directory whose lock nobody holds was abandoned (a crash, a dead second daemon).
        let unlocked = candidates
        let abandoned = (try? await io.run { () -> [ClaimedJob] in
            unlocked.compactMap { id in
                let dir = layout.processing(id)
                guard let lock = DirectoryLock(path: dir) else { return nil }
                guard FileSystem.listDirectory(dir).contains(where: { DropNames.isSidecar($0) }) else {
                    // A claim that died before its sidecar rename: the drop is still in incoming/.
                    if let st = FileSystem.status(dir), now - st.mtime > 60 { FileSystem.removeTree(dir) }
                    return nil
                }
                return ClaimedJob(videoID: id, lock: lock)
            }
        }) ?? []
        if shared {
            for job in abandoned { await recordAbandonedClaim(job) }
        } else {
            for job in abandoned where await queue.enqueue(job) {
                logger.notice("resuming abandoned job", metadata: ["job.id": "\(job.videoID)"])
            }
        }
        await removeStaleScratch(claimed: Set(claimed))
        let rows: [VideoQueries.ProcessingRow]
        do { rows = try await store.processingRows() } catch {
            logger.error("recovery cannot read the db", metadata: ["error": "\(error)"])
            return
        }
        let inProcessing = Set(claimed)
        for row in rows where !inProcessing.contains(row.id) {
            let id = row.id
            guard await !queue.isKnown(id), (try? await io.run({ FileSystem.status(layout.processing(id)) == nil })) == true else { continue }
            if row.retryRequested {
                await rerunFromFailed(id)
            } else {
                await failIfLost(row, now: now)
            }
        }
        if failedNeedScan.exchange(false, ordering: .relaxed) { await recordUnrecordedFailures() }
    }

    /// Shared store: a job directory with no row (the claiming node died between its rename and its insert) gets its
    /// row from its sidecar; then it is unlocked and whichever node's puller takes its lease runs it.
    private func recordAbandonedClaim(_ job: ClaimedJob) async {
        let id = job.videoID, layout = self.layout
        do {
            // Asked again under the lock: a claim that was in progress at the first look has recorded its row by now.
            guard try await store.existing([id]).isEmpty else { return }
            let files = try await io.run { try JobFiles(directory: layout.processing(id), layout: layout) }
            try await store.recordClaim(await files.claimRow(id: id, store: store))
        } catch {
            logger.error("cannot record an abandoned claim", metadata: ["job.id": "\(id)", "error": "\(error)"])
            return
        }
        logger.notice("recorded an abandoned claim; it runs on the next free node", metadata: ["job.id": "\(id)"])
        onRunnable()
    }

    /// `work/<id>` of a job that is neither running here nor claimed (a crash after the job's end): scratch only,
    /// so it is removed. A scratch directory whose job sits in `processing/` is left to that job's next attempt.
    private func removeStaleScratch(claimed: Set<String>) async {
        let layout = self.layout
        guard let scratch = try? await io.run({ try FileSystem.listDirectoryChecked(layout.workRoot) }) else { return }
        var stale: [String] = []
        for id in scratch where !id.hasPrefix(".") && !claimed.contains(id) {
            if await !queue.isKnown(id) { stale.append(id) }
        }
        guard !stale.isEmpty else { return }
        let candidates = stale
        // Checked again now: another daemon on this inbox may have claimed the job since the listing.
        let gone: [String] = (try? await io.run { () -> [String] in
            candidates.filter { FileSystem.status(layout.processing($0)) == nil }.map { id in
                FileSystem.removeTree(layout.work(id))
                return id
            }
        }) ?? []
        if !gone.isEmpty {
            logger.notice("removed scratch of finished jobs", metadata: ["work.ids": "\(gone.joined(separator: ","))"])
        }
    }

    /// The recovery SQL or `inboxd retry`: `failed/<id>/` back to `processing/<id>/`, with a fresh attempt budget.
    private func rerunFromFailed(_ id: String) async {
        let layout = self.layout
        guard (try? await io.run { FileSystem.status(layout.failed(id))?.kind == .directory }) == true else {
            do {
                try await store.markFailed(id, error: "retry requested, but the originals are gone from \(layout.failed(id))",
                                           reason: .originalsMissing)
            } catch {
                logger.error("cannot record a failed retry", metadata: ["job.id": "\(id)", "error": "\(error)"])
            }
            return
        }
        do { try await store.resetAttempts(id) } catch {
            logger.error("cannot start a requested retry", metadata: ["job.id": "\(id)", "error": "\(error)"])
            return
        }
        let lock: DirectoryLock?
        do {
            lock = try await io.run {
                try FileSystem.renameNoReplace(layout.failed(id), layout.processing(id))
                return DirectoryLock(path: layout.processing(id))
            }
        } catch {
            logger.error("cannot move originals back for a retry", metadata: ["job.id": "\(id)", "error": "\(error)"])
            return
        }
        guard let lock else { return }
        if shared {
            // Unlocked again at once: whichever node's puller takes the row's lease runs it.
            _ = lock
            logger.notice("retrying failed job from its kept originals", metadata: ["job.id": "\(id)"])
            onRunnable()
            return
        }
        if await queue.enqueue(ClaimedJob(videoID: id, lock: lock)) {
            logger.notice("retrying failed job from its kept originals", metadata: ["job.id": "\(id)"])
        }
    }

    /// A `processing` row with nothing behind it: not claimed, not waiting in `incoming/` (the receiver's files are
    /// named after the id), not in `failed/`. After a grace period (a receiver's drop may be between its row and
    /// its rename) it fails with reason `lost`, so no client polls a job that will never end.
    private func failIfLost(_ row: VideoQueries.ProcessingRow, now: Double) async {
        guard let updated = Timestamp.date(row.updatedAt)?.timeIntervalSince1970, now - updated > Self.lostAfterSeconds else { return }
        let id = row.id, layout = self.layout
        let found = try? await io.run { () -> Bool? in
            Self.incomingHolds(id, layout: layout) ? nil : FileSystem.status(layout.failed(id)) != nil
        }
        guard let inFailed = found ?? nil else { return }
        let where_ = inFailed ? " (its files are in \(layout.failed(id)))" : ""
        let message = "no job behind this row: nothing in processing/ or incoming/ carries id \(id)\(where_)"
        do { try await store.markFailed(id, error: message, reason: .lost) } catch {
            logger.error("cannot record a lost job", metadata: ["job.id": "\(id)", "error": "\(error)"])
            return
        }
        logger.error("Background processing failed for video \(id): \(message)", metadata: ["job.id": "\(id)", "failure.reason": "lost"])
    }

    static let lostAfterSeconds: Double = 60

    private static func incomingHolds(_ id: String, layout: InboxLayout) -> Bool {
        func holds(_ dir: String, depth: Int) -> Bool {
            for name in FileSystem.listDirectory(dir) {
                if name.contains(id) { return true }
                if depth == 0, FileSystem.status(dir + "/" + name)?.kind == .directory, holds(dir + "/" + name, depth: 1) { return true }
            }
            return false
        }
        return holds(layout.incoming, depth: 0)
    }

    /// `failed/<id>/` directories without a row (the db could not take the failure when it happened): recorded now,
    /// from the note the claimer left beside the files, so status and `inboxd retry` see them. A directory with no drop
    /// file in it is no failure: only the rename of a drop's file makes one.
    private func recordUnrecordedFailures() async {
        let layout = self.layout
        let ids: [String]
        do { ids = try await io.run { try FileSystem.listDirectoryChecked(layout.failedRoot).filter { !$0.hasPrefix(".") } } } catch {
            logger.error("cannot list failed/", metadata: ["error": "\(error)"])
            failedNeedScan.store(true, ordering: .relaxed)
            return
        }
        guard !ids.isEmpty else { return }
        let known: Set<String>
        do { known = try await store.existing(ids) } catch {
            failedNeedScan.store(true, ordering: .relaxed)
            return
        }
        for id in ids where !known.contains(id) {
            // Nothing but the note: a rejection that has not taken its drop's file yet, on this host or another
            // daemon's (or never will: it lost the race, or a crash cut it short and the drop is still in incoming/).
            let holdsFiles = (try? await io.run { (try? FileSystem.listRaw(layout.failed(id)))?.contains { $0.name != FailureNote.fileName } ?? true }) ?? true
            guard holdsFiles else {
                logger.debug("failed/ directory holds no drop yet; not recorded", metadata: ["job.id": "\(id)"])
                continue
            }
            let note = (try? await io.run { FailureNote.read(from: layout.failed(id)) }) ?? nil
            let row = note?.row ?? VideoRow(videoID: id, title: id, source: .drop)
            let message = note?.message ?? "found in \(layout.failed(id)) without a row (the failure could not be recorded)"
            do {
                try await store.recordRejected(row, error: message, reason: note?.reason ?? .other)
                _ = try? await io.run { FailureNote.remove(from: layout.failed(id)) }
                logger.notice("recorded a failed drop that had no row", metadata: ["job.id": "\(id)"])
            } catch {
                logger.error("still cannot record failed drop", metadata: ["job.id": "\(id)", "error": "\(error)"])
                failedNeedScan.store(true, ordering: .relaxed)
            }
        }
    }
}
