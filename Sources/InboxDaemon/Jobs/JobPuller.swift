import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Feeds this node's workers from the shared PostgreSQL store (`[store] url`): whenever a worker is free it takes
/// the next runnable job (`PGJobStore.take`, `FOR UPDATE SKIP LOCKED`, stamping this node's lease), locks its
/// `processing/<id>/` directory and queues it here. Woken by `LISTEN inboxd_jobs` (a trigger on `videos` notifies
/// on new, requeued or finished work, the admin's recovery SQL included), by a job ending here, and every
/// `pollSeconds` (a NOTIFY lost with a dropped connection, a lease running out on a dead node).
/// A heartbeat renews this node's leases every lease/3.
final class JobPuller: Service {
    private let store: PGJobStore
    private let queue: JobQueue
    private let layout: InboxLayout
    private let io: BlockingIO
    private let workers: Int
    /// `[limits] max_running_jobs` (default `workers - 1`; 0 = none): a user's running jobs across every node.
    private let runningCap: Int
    private let pollSeconds: Double
    private let logger: Logger
    private let bell = Doorbell()
    /// Jobs this node took but could not start (their directory was missing or locked), skipped for a while.
    private let skipped = Mutex<[String: Date]>([:])

    init(store: PGJobStore, queue: JobQueue, layout: InboxLayout, io: BlockingIO, workers: Int, runningCap: Int = 0,
         pollSeconds: Double, logger: Logger) {
        self.runningCap = runningCap
        self.store = store
        self.queue = queue
        self.layout = layout
        self.io = io
        self.workers = workers
        self.pollSeconds = pollSeconds
        self.logger = logger
    }

    /// Look for work now (a job ended here, a drop was claimed here).
    func wake() { bell.ring() }

    func run() async throws {
        let released = (try? await store.releaseOwnLeases()) ?? 0
        if released > 0 {
            logger.notice("gave up the leases of this node's previous run", metadata: ["store.node": "\(store.node)", "jobs.count": "\(released)"])
        }
        let beat = Double(store.leaseSeconds) / 3
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.listen(PGJobStore.jobsChannel) { self.bell.ring() } }
            group.addTask { await self.listen(PGJobStore.changesChannel) { self.store.changes.ring() } }
            group.addTask { await self.heartbeat(every: beat) }
            group.addTask { await self.pull(poll: min(self.pollSeconds, beat)) }
            await group.next()
            group.cancelAll()
        }
    }

    private func pull(poll: Double) async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.fill()
                await self.bell.wait(atMost: .milliseconds(Int64(poll * 1000)))
            }
        }
    }

    /// Takes jobs while a worker here is free.
    private func fill() async {
        while !Task.isCancelled, await queue.load < workers {
            let now = Date()
            let skip = skipped.withLock { s -> [String] in
                s = s.filter { $0.value > now }
                return Array(s.keys)
            } + (await queue.heldIDs)
            let taken: PGJobStore.Taken?
            do { taken = try await store.take(skipping: skip, defaultRunningCap: runningCap) } catch {
                logger.error("cannot take a job from the store", metadata: ["error": "\(error)"])
                return
            }
            guard let taken else { return }
            let id = taken.videoID, dir = layout.processing(id)
            let found = try? await io.run { () -> (exists: Bool, lock: DirectoryLock?) in
                guard FileSystem.status(dir)?.kind == .directory else { return (false, nil) }
                return (true, DirectoryLock(path: dir))
            }
            guard let found, found.exists else {
                // Its files are not in processing/ (yet): given back, and left alone here for a moment.
                skipped.withLock { $0[id] = Date().addingTimeInterval(2) }
                try? await store.release(id)
                continue
            }
            // A row exists only once its claim's renames are done, so the files are complete; the directory lock may
            // still be held by the claiming node (about to drop it) or by a node on this host that stalled past its
            // lease: the lease decides, so the job runs either way.
            let lock = found.lock
            if let previous = taken.previousNode {
                logger.notice("taking over a job whose lease ran out", metadata: [
                    "job.id": "\(id)", "store.node": "\(store.node)", "store.previous_node": "\(previous)",
                ])
            }
            guard await queue.enqueue(ClaimedJob(videoID: id, lock: lock)) else {
                try? await store.release(id)
                return
            }
        }
    }

    private func heartbeat(every seconds: Double) async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                let here = await self.queue.loadIDs
                do {
                    try await self.store.renewLeases(here)
                    // A job whose lease another node took (this node was too slow to renew it) stops here.
                    for id in try await self.store.takenOver(here) {
                        self.logger.warning("another node took over a job running here; stopping it", metadata: ["job.id": "\(id)"])
                        await self.queue.cancel(id, LeaseLost.cancelCause)
                    }
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.error("cannot renew this node's leases", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// `LISTEN channel` on a connection of its own, calling `notified` for each NOTIFY; reconnects after an error.
    private func listen(_ channel: String, notified: @escaping @Sendable () -> Void) async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.store.client.withConnection { conn in
                        try await conn.listen(on: channel) { notifications in
                            for try await _ in notifications { notified() }
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    self.logger.warning("LISTEN on the store failed; polling until it is back", metadata: [
                        "store.channel": "\(channel)", "error": "\(error)",
                    ])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }
}
