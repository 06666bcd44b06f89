import Foundation
import Synchronization
import Logging
import NIOPosix
import Pipeline
import ServiceLifecycle
import StatusAPI
import Store
import HTTPKit

/// Composes the daemon from its services. `ServiceGroup` shuts them down in reverse order on SIGTERM/SIGINT:
/// systemd hears `STOPPING=1` first (when started by it), then HTTP intake stops, then the watcher (no new claims),
/// then the workers (running jobs finish or are put back).
/// If any service fails (a port in use, an inotify limit), the others are cancelled and the process exits with
/// that error; `ExitDeadline` bounds every stop to `shutdown_grace_seconds` + 5 s whatever a service does.
struct Daemon {
    let config: Config
    let logger: Logger
    /// Conversions pause while the API is flooded (`convert_yield_rps`); nil when that is off.
    let pressure: APIPressure?

    init(config: Config, logger: Logger) {
        self.config = config
        self.logger = logger
        pressure = config.convertYieldRPS > 0 ? APIPressure(requestsPerSecond: config.convertYieldRPS, logger: logger) : nil
    }

    func run() async throws {
        if let shared = config.store {
            try await runShared(shared)
            return
        }
        let layout = InboxLayout(root: config.inbox)
        try Preflight.check(config, layout: layout)
        let maxConnections = FileLimits.raise(toFit: config.http.maxConnections, logger: logger)
        Curl.globalInit()
        LibAVLog.install(logger: Logger(label: "inboxd.libav"))
        let queued = ChangeSignal()
        let store = try JobStore(path: config.db, outbox: WebhookOutbox(
            settings: config.webhooks, statusJSON: Self.statusJSON, onQueued: { queued.ring() }))
        let webhooks = config.webhooks
        let allow = config.urlIngest.allow
        let statusStore = try StatusStore(path: config.db, cacheEntries: config.statusCacheEntries, commits: store.commits,
                                          recheckInterval: StatusStore.daemonRecheckInterval)
        let limits = config.limits, workerCount = config.workers
        let queue = JobQueue { ids in await Self.tickets(ids, store: store, limits: limits, workers: workerCount) }
        let gate = QueueGate(store: store, defaults: config.limits, logger: logger)
        let io = BlockingIO.start(threads: 4)
        let runner = makeRunner(layout: layout, store: store, queue: queue, io: io)
        let recovery = Recovery(layout: layout, store: store, queue: queue, pollSeconds: config.recoveryPollSeconds, io: io, logger: logger,
                                onSweep: { gate.reopen() })
        let claimer = Claimer(layout: layout, store: store, io: io, logger: logger, gate: gate,
                              notifyURLRefusal: { webhooks.notifyURLRefusal($0, allow: allow) },
                              onUnrecorded: { recovery.failedDropUnrecorded() }) { jobs in
            await queue.enqueue(jobs)
        }
        let readiness = ReadinessFlags()
        let watcher = InboxWatcher(
            layout: layout, claimer: claimer, settleSeconds: config.settleSeconds, orphanSeconds: config.orphanSeconds,
            allowHardLinks: config.allowHardLinks, scanIntervalSeconds: config.scanIntervalSeconds, useInotify: config.useInotify, io: io, logger: logger, onWatching: readiness.watcherWatching) { await recovery.sweep() }
        let trimmer = makeTrimmer(readiness: readiness, io: io, queue: queue)
        let workers = WorkerPool(queue: queue, runner: runner, workers: config.workers,
                                 shutdownGraceSeconds: config.shutdownGraceSeconds, logger: logger, onJobEnd: { gate.reopen(); trimmer?.noteActivity() })
        let metrics = InboxMetrics.bootstrap()
        var httpConfig = config
        httpConfig.http.maxConnections = maxConnections
        let uploads = ResumableUploads(
            area: UploadArea(root: layout.uploadsRoot), committer: DropCommitter(incoming: layout.incoming, pool: io.pool),
            limits: ReceiverLimits(maxUploadBytes: config.maxUploadBytes, minFreeBytes: config.minFreeBytes),
            journal: store, pool: io.pool, expirySeconds: config.uploadExpiryHours * 3600)
        let assets = WebAssets.load(directory: config.webAssetsDir)
        Self.warnMissingPlayerFiles(assets, logger: logger)
        let http = HTTPServer.make(config: httpConfig, statusStore: statusStore, jobStore: store, metrics: metrics,
                                   io: io, resumable: uploads, assets: assets, trimmer: trimmer, pressure: pressure, logger: logger,
                                   onListening: readiness.httpListening)

        logger.info("inboxd starting", metadata: [
            "inbox.path": "\(layout.root)", "db.path": "\(config.db)", "listen": "\(config.listen)",
            "workers": "\(config.workers)", "publish": "\(config.s3 == nil ? "local \(config.output)" : "s3")",
        ])
        let deliverer = WebhookDeliverer(
            store: store, settings: config.webhooks,
            poster: try WebhookPoster(allow: config.urlIngest.allow, timeoutSeconds: config.webhooks.timeoutSeconds),
            signal: queued, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: deliverer),
            .init(service: workers),
            .init(service: recovery),
            .init(service: watcher),
            .init(service: UploadSweeper(uploads: uploads, layout: layout, pollSeconds: config.recoveryPollSeconds, logger: logger)),
            .init(service: HTTPService(app: http, address: config.listen)),
            .init(service: ExitDeadline(seconds: config.shutdownGraceSeconds + 5, logger: logger)),
        ]
        if let trimmer { services.append(.init(service: trimmer)) }
        let environment = ProcessInfo.processInfo.environment
        if let notifier = SystemdNotifier(environment: environment) {
            let watchdog = SystemdService.watchdogInterval(environment: environment)
            services.append(.init(service: SystemdService(
                notifier: notifier, readiness: readiness, heartbeats: [recovery.heartbeat, watcher.heartbeat],
                watchdogInterval: watchdog,
                staleAfterSeconds: max(2 * (watchdog ?? 0), 3 * config.recoveryPollSeconds, 5),
                status: { await Self.statusLine(queue: queue, store: store) }, logger: logger)))
        }
        try await runServices(services, io: io)
    }

    /// Runs the services until SIGTERM/SIGINT or one fails, then ends the blocking-I/O pool.
    private func runServices(_ services: [ServiceGroupConfiguration.ServiceConfiguration], io: BlockingIO) async throws {
        var groupConfig = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Past the grace, running jobs are cancelled (and put back for the next start).
        groupConfig.maximumGracefulShutdownDuration = Duration.milliseconds(Int64((config.shutdownGraceSeconds + 2) * 1000))
        try await ServiceGroup(configuration: groupConfig).run()
        await io.shutdown()
        logger.info("inboxd stopped")
    }

    /// The memory trimmer (`trim_memory`), or nil when it is turned off.
    private func makeTrimmer(readiness: ReadinessFlags, io: BlockingIO, queue: JobQueue) -> MemoryTrimmer? {
        guard config.trimMemory else { return nil }
        return MemoryTrimmer(quietSeconds: config.trimMemoryAfterSeconds, readiness: readiness, io: io, logger: logger) {
            await queue.running > 0
        }
    }

    /// The pipeline a worker runs a job through, publishing locally or to S3.
    private func makeRunner(layout: InboxLayout, store: any JobStoring, queue: JobQueue, io: BlockingIO,
                            scratchNode: String? = nil) -> JobRunner {
        let publisher: any Publisher
        if let s3 = config.s3 {
            publisher = S3Publisher(configuration: s3, logger: logger)
        } else {
            publisher = LocalPublisher(outputRoot: config.output, publicBaseURL: config.effectivePublicURL)
        }
        var jobLimits = JobRunner.Limits(timeLimitSeconds: config.jobTimeLimitSeconds, stallSeconds: config.stallSeconds,
                                         segmentSeconds: config.segmentSeconds)
        jobLimits.retry = config.retry
        jobLimits.minFreeBytes = config.minFreeBytes
        jobLimits.conversionPriority = ThreadPriority(nice: config.convertNice, policy: config.convertPolicy)
        jobLimits.scratchNode = scratchNode
        jobLimits.hls.ladder = config.ladder
        jobLimits.hls.ladderCopyTop = config.ladderCopyTop
        jobLimits.hls.segmentFormat = config.segmentFormat
        jobLimits.hls.firstSegmentSeconds = config.firstSegmentSeconds > 0 ? config.firstSegmentSeconds : nil
        jobLimits.hls.apiPressure = pressure
        return JobRunner(
            layout: layout, store: store, queue: queue, io: io, publisher: publisher,
            downloader: URLDownloader(configuration: config.urlIngest, logger: logger), limits: jobLimits, logger: logger)
    }

    /// A node of several sharing one PostgreSQL store (`[store] url`), one inbox and one S3 bucket: the claimer
    /// records drops claimed here, `JobPuller` feeds this node's workers from the shared queue under leases; resumable
    /// uploads keep their bytes in the shared inbox, so any node serves any of them; every node works the shared
    /// webhook outbox, each delivery taken by one node at a time.
    private func runShared(_ settings: StoreSettings) async throws {
        let layout = InboxLayout(root: config.inbox)
        try Preflight.check(config, layout: layout)
        _ = FileLimits.raise(toFit: config.http.maxConnections, logger: logger)
        Curl.globalInit()
        LibAVLog.install(logger: Logger(label: "inboxd.libav"))
        let store = try PGJobStore(url: settings.url, node: settings.node, leaseSeconds: settings.leaseSeconds, logger: logger,
                                   outbox: WebhookOutbox(settings: config.webhooks, statusJSON: Self.statusJSON, onQueued: {}))
        let client = Task { await store.run() }
        defer { client.cancel() }
        do { try await store.migrate(timeoutSeconds: 15) } catch {
            throw StartupError.store(url: Self.redacted(settings.url), reason: "\(error)")
        }
        let limits = config.limits, workerCount = config.workers
        let queue = JobQueue { ids in await Self.tickets(ids, store: store, limits: limits, workers: workerCount) }
        let gate = QueueGate(store: store, defaults: config.limits, logger: logger)
        let io = BlockingIO.start(threads: 4)
        let runner = makeRunner(layout: layout, store: store, queue: queue, io: io, scratchNode: settings.node)
        let puller = JobPuller(store: store, queue: queue, layout: layout, io: io, workers: config.workers,
                               runningCap: config.limits.runningCap(workers: config.workers),
                               pollSeconds: config.recoveryPollSeconds, logger: logger)
        let recovery = Recovery(layout: layout, store: store, queue: queue, pollSeconds: config.recoveryPollSeconds, io: io, logger: logger,
                                shared: true, onRunnable: { puller.wake() }, onSweep: { gate.reopen() })
        let webhooks = config.webhooks, allow = config.urlIngest.allow
        let claimer = Claimer(layout: layout, store: store, io: io, logger: logger, gate: gate,
                              notifyURLRefusal: { webhooks.notifyURLRefusal($0, allow: allow) },
                              onUnrecorded: { recovery.failedDropUnrecorded() }) { jobs in
            // The claims are recorded: their directories are unlocked again and whichever node has a free worker takes them.
            _ = jobs
            puller.wake()
        }
        let readiness = ReadinessFlags()
        let watcher = InboxWatcher(
            layout: layout, claimer: claimer, settleSeconds: config.settleSeconds, orphanSeconds: config.orphanSeconds,
            allowHardLinks: config.allowHardLinks, scanIntervalSeconds: config.scanIntervalSeconds, useInotify: config.useInotify,
            io: io, logger: logger, onWatching: readiness.watcherWatching) { await recovery.sweep() }
        let trimmer = makeTrimmer(readiness: readiness, io: io, queue: queue)
        let workers = WorkerPool(queue: queue, runner: runner, workers: config.workers, shutdownGraceSeconds: config.shutdownGraceSeconds,
                                 logger: logger, onJobEnd: { gate.reopen(); puller.wake(); trimmer?.noteActivity() })
        let metrics = InboxMetrics.bootstrap()
        let assets = WebAssets.load(directory: config.webAssetsDir)
        Self.warnMissingPlayerFiles(assets, logger: logger)
        let uploads = ResumableUploads(
            area: UploadArea(root: layout.uploadsRoot), committer: DropCommitter(incoming: layout.incoming, pool: io.pool),
            limits: ReceiverLimits(maxUploadBytes: config.maxUploadBytes, minFreeBytes: config.minFreeBytes),
            journal: store, pool: io.pool, expirySeconds: config.uploadExpiryHours * 3600)
        let http = SharedStoreHTTP.make(config: config, store: store, metrics: metrics, assets: assets, io: io, resumable: uploads,
                                        trimmer: trimmer, pressure: pressure, logger: logger, onListening: readiness.httpListening)
        let deliverer = WebhookDeliverer(
            store: store, settings: config.webhooks,
            poster: try WebhookPoster(allow: config.urlIngest.allow, timeoutSeconds: config.webhooks.timeoutSeconds),
            signal: store.changes, logger: logger)
        logger.info("inboxd starting", metadata: [
            "inbox.path": "\(layout.root)", "store": "\(Self.redacted(settings.url))", "store.node": "\(settings.node)",
            "store.lease_s": "\(settings.leaseSeconds)", "listen": "\(config.listen)", "workers": "\(config.workers)",
            "publish": "\(config.s3 == nil ? "local \(config.output)" : "s3")",
        ])
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: deliverer),
            .init(service: puller),
            .init(service: workers),
            .init(service: recovery),
            .init(service: watcher),
            .init(service: UploadSweeper(uploads: uploads, layout: layout, pollSeconds: config.recoveryPollSeconds, logger: logger)),
            .init(service: HTTPService(app: http, address: config.listen)),
            .init(service: ExitDeadline(seconds: config.shutdownGraceSeconds + 5, logger: logger)),
        ]
        if let trimmer { services.append(.init(service: trimmer)) }
        try await runServices(services, io: io)
    }

    static func warnMissingPlayerFiles(_ assets: WebAssets, logger: Logger) {
        if !assets.missingPlayerFiles.isEmpty {
            logger.warning("watch page player files missing: pages will say so (run scripts/bootstrap, or fix web_assets_dir)", metadata: [
                "web.assets_dir": "\(assets.directory)", "web.missing": "\(assets.missingPlayerFiles.joined(separator: ","))",
            ])
        }
    }

    /// The store URL without its password, for logs and errors.
    static func redacted(_ url: String) -> String {
        guard var u = URLComponents(string: url), u.password != nil else { return url }
        u.password = "***"
        return u.string ?? url
    }

    /// A webhook body's `data`: the `/status` answer, exactly as the status API encodes it.
    @Sendable static func statusJSON(_ row: VideoRow) throws -> String {
        String(decoding: try JSONEncoder.api.encode(StatusResponse(row)), as: UTF8.self)
    }

    /// A queued job's place in the scheduler (`SchedulingPolicy`): its row's owner, priority and age, and the owner's
    /// running cap — the users row's `max_running_jobs` (0 = none), else none for admins and ownerless drops, else
    /// `[limits] max_running_jobs`. A row the db cannot give yet ranks as an ownerless job of priority 0 (left out
    /// of the answer). One db read for a whole burst of ids.
    static func tickets(_ ids: [String], store: any JobStoring, limits: UserLimits, workers: Int) async -> [String: SchedulingPolicy.Ticket] {
        guard let entries = try? await store.queueEntries(ids) else { return [:] }
        return entries.mapValues { entry in
            let cap = entry.owner.isEmpty && entry.user?.maxRunningJobs == nil ? 0 : limits.effective(for: entry.user).runningCap(workers: workers)
            return SchedulingPolicy.Ticket(owner: entry.owner, priority: entry.priority, createdAt: entry.createdAt,
                                           maxRunning: cap == 0 ? nil : cap)
        }
    }

    /// systemd's one-line status: "3 running, 12 queued, 0 retrying" (retrying: transient failures waiting for their next attempt).
    static func statusLine(queue: JobQueue, store: any JobStoring) async -> String {
        let retrying = (try? await store.retriesNotDue().count).map(String.init) ?? "?"
        return "\(await queue.running) running, \(await queue.queued) queued, \(retrying) retrying"
    }
}

/// Once a stop begins (SIGTERM, or a service failing), a plain thread ends the process after `seconds` if the
/// services have not finished by then: no wedged libav call or lost wake-up can keep a unit from stopping or
/// restarting. Jobs interrupted this way resume on the next start, as after a crash.
struct ExitDeadline: Service {
    let seconds: Double
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()  // returns on SIGTERM, throws on cancellation: either way a stop has begun
        let seconds = self.seconds
        let logger = self.logger
        let thread = Thread {
            Thread.sleep(forTimeInterval: seconds)
            logger.critical("inboxd did not stop within \(Int(seconds)) s; exiting now (interrupted jobs resume on the next start)")
            fflush(nil)  // every output stream: the log line must reach journald
            _exit(1)
        }
        thread.name = "inboxd-exit-deadline"
        thread.start()
    }
}

/// Open descriptors: each HTTP connection holds one, so the soft limit is raised to the hard one (the unit's
/// `LimitNOFILE`). It must fit at least `max_connections` plus the db, inotify, the job locks' shared files, libav and
/// curl's own. Claimed jobs cost none (see `DirectoryLock`): a burst is claimed whatever its size.
enum FileLimits {
    /// The db, inotify, libav and curl's own, and the job and upload lock files.
    static let reserved = 256 + 2 * DirectoryLock.shardCount

    /// Returns the connection limit that fits (lowered, with a warning, when the hard limit is too small).
    static func raise(toFit connections: Int, logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return connections }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let fits = max(Int(limit.rlim_cur) - reserved, 16)
        if fits < connections {
            logger.warning("max_connections lowered to fit the open-file limit", metadata: [
                "http.max_connections": "\(fits)", "nofile.limit": "\(limit.rlim_cur)",
            ])
            return fits
        }
        return connections
    }
}
