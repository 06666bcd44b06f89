import Foundation
import Logging
import NIOPosix
import Pipeline
import ServiceLifecycle
import StatusAPI

/// Composes the daemon from its services. `ServiceGroup` shuts them down in reverse order on SIGTERM/SIGINT:
/// HTTP intake first, then the watcher (no new claims), then the workers (running jobs finish or are put back).
struct Daemon {
    let config: Config
    let logger: Logger

    func run() async throws {
        Curl.globalInit()
        LibAVLog.install(logger: Logger(label: "inboxd.libav"))
        let layout = InboxLayout(root: config.inbox)
        try layout.create()
        let store = try JobStore(path: config.db)
        let statusStore = try StatusStore(path: config.db)
        let queue = JobQueue()
        let publisher: any Publisher
        if let s3 = config.s3 {
            publisher = S3Publisher(configuration: s3, logger: logger)
        } else {
            try FileManager.default.createDirectory(atPath: config.output + "/videos", withIntermediateDirectories: true)
            publisher = LocalPublisher(outputRoot: config.output, publicBaseURL: config.effectivePublicURL)
        }
        let runner = JobRunner(
            layout: layout, store: store, publisher: publisher,
            downloader: URLDownloader(configuration: config.urlIngest, logger: logger),
            limits: .init(timeLimitSeconds: config.jobTimeLimitSeconds, stallSeconds: config.stallSeconds,
                          segmentSeconds: config.segmentSeconds),
            logger: logger)
        let recovery = Recovery(layout: layout, store: store, queue: queue, pollSeconds: config.recoveryPollSeconds, logger: logger)
        let claimer = Claimer(layout: layout, store: store, logger: logger) { job in await queue.enqueue(job) }
        let watcher = InboxWatcher(
            layout: layout, claimer: claimer, settleSeconds: config.settleSeconds, orphanSeconds: config.orphanSeconds,
            logger: logger) { await recovery.sweep() }
        let workers = WorkerPool(queue: queue, runner: runner, workers: config.workers,
                                 shutdownGraceSeconds: config.shutdownGraceSeconds, logger: logger)
        let metrics = InboxMetrics.bootstrap()
        let uploadPool = NIOThreadPool(numberOfThreads: 2)
        uploadPool.start()
        let http = HTTPServer.make(config: config, statusStore: statusStore, jobStore: store, metrics: metrics,
                                   uploadPool: uploadPool, logger: logger)

        logger.info("inboxd starting", metadata: [
            "inbox.path": "\(layout.root)", "db.path": "\(config.db)", "listen": "\(config.listen)",
            "workers": "\(config.workers)", "publish": "\(config.s3 == nil ? "local \(config.output)" : "s3")",
        ])
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: workers),
                .init(service: recovery),
                .init(service: watcher),
                .init(service: http),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        try? await uploadPool.shutdownGracefully()
        logger.info("inboxd stopped")
    }
}
