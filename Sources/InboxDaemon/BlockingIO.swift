import NIOPosix

/// Where blocking work runs, the one rule of the daemon:
///
/// - **File-system calls** (`lstat`, `readdir`, `rename`, `mkdir`, `open`/`write`/`fsync` of spools and sidecars,
///   removing job trees) run on `BlockingIO`, one small thread pool shared by the watcher, the claimer, recovery,
///   the job runner's bookkeeping and the HTTP receiver. They are short, but a slow or hung disk must never stall
///   Swift's cooperative threads, which serve HTTP and every other task.
/// - **libav and curl** (probe, conversion, thumbnail, download, S3 upload) run on dedicated threads
///   (`DedicatedThread`, and `S3WorkerPool`'s threads for parallel uploads): they run for minutes and would hold a
///   pool thread for all that time.
/// - **inotify** is read by its own thread (a blocking `poll` loop).
/// - **SQLite** calls go through GRDB, which runs them on its own serial queues.
/// - **systemd notifications** are `sendto` on a non-blocking datagram socket (`SystemdNotifier`): they return at
///   once, so they are sent from the cooperative pool.
///
/// Nothing else blocks: the cooperative pool only awaits.
struct BlockingIO: Sendable {
    let pool: NIOThreadPool

    static func start(threads: Int) -> BlockingIO {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return BlockingIO(pool: pool)
    }

    /// Runs `body` on the pool; throws if the pool is shutting down.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
