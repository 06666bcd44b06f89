import Foundation
import Logging
import Pipeline
import ServiceLifecycle

/// `workers` jobs at once. On SIGTERM it stops taking jobs, gives running ones `shutdownGraceSeconds` to
/// finish, then cancels them; a cancelled job is put back (phase `queued`, directory kept in `processing/`)
/// and the next start resumes it.
final class WorkerPool: Service {
    private let queue: JobQueue
    private let runner: JobRunner
    private let workers: Int
    private let shutdownGraceSeconds: Double
    private let logger: Logger

    init(queue: JobQueue, runner: JobRunner, workers: Int, shutdownGraceSeconds: Double, logger: Logger) {
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
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<workers {
                    group.addTask { await self.work() }
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
                await queue.cancelAll(reason: JobRunner.shutdownReason)
            }
        }
    }

    private func work() async {
        while let job = await queue.next() {
            let control = JobControl()
            await queue.started(job.videoID, control: control)
            _ = await runner.run(job, control: control)
            await queue.finished(job.videoID)
        }
    }
}

/// Finds work that is not running anywhere: job directories in `processing/` whose lock nobody holds (a crash,
/// or a second daemon that died), and rows an admin set back to `processing` whose originals wait in
/// `failed/<id>/` (the recovery SQL, `inboxd retry`). Runs at start, after an inotify overflow, and every
/// `recovery_poll_seconds`, so a retry needs no restart.
final class Recovery: Service {
    private let layout: InboxLayout
    private let store: JobStore
    private let queue: JobQueue
    private let pollSeconds: Double
    private let logger: Logger

    init(layout: InboxLayout, store: JobStore, queue: JobQueue, pollSeconds: Double, logger: Logger) {
        self.layout = layout
        self.store = store
        self.queue = queue
        self.pollSeconds = pollSeconds
        self.logger = logger
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await sweep()
            try? await Task.sleep(for: .seconds(pollSeconds))
        }
    }

    func sweep() async {
        let now = Date().timeIntervalSince1970
        for id in FileSystem.listDirectory(layout.processingRoot).sorted() where !id.hasPrefix(".") {
            guard await !queue.isKnown(id) else { continue }
            let dir = layout.processing(id)
            guard let lock = DirectoryLock(path: dir) else { continue }
            guard FileSystem.listDirectory(dir).contains(where: { DropNames.isSidecar($0) }) else {
                // A claim that died before its sidecar rename: the drop is still in incoming/.
                if let st = FileSystem.status(dir), now - st.mtime > 60 { FileSystem.removeTree(dir) }
                continue
            }
            if await queue.enqueue(ClaimedJob(videoID: id, lock: lock)) {
                logger.notice("resuming abandoned job", metadata: ["job.id": "\(id)"])
            }
        }
        let rows: [(id: String, wasFinished: Bool)]
        do { rows = try await store.processingRows() } catch {
            logger.error("recovery cannot read the db", metadata: ["error": "\(error)"])
            return
        }
        for row in rows where row.wasFinished {
            let id = row.id
            guard await !queue.isKnown(id), FileSystem.status(layout.processing(id)) == nil else { continue }
            guard FileSystem.status(layout.failed(id))?.kind == .directory else {
                try? await store.markFailed(id, error: "retry requested, but the originals are gone from \(layout.failed(id))",
                                            reason: .originalsMissing)
                continue
            }
            do { try FileSystem.renameNoReplace(layout.failed(id), layout.processing(id)) } catch { continue }
            guard let lock = DirectoryLock(path: layout.processing(id)) else { continue }
            if await queue.enqueue(ClaimedJob(videoID: id, lock: lock)) {
                logger.notice("retrying failed job from its kept originals", metadata: ["job.id": "\(id)"])
            }
        }
    }
}
