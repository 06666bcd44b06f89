import Foundation
import Logging
import Metrics
import Pipeline
import StatusAPI
import Store
import Synchronization

/// Runs one claimed job through the pipeline: download (URL ingest) → probe → thumbnail → HLS published live as it
/// converts (`LivePublication`) → the last files, with the row's phase and progress following along. libav and
/// curl work runs on dedicated threads.
final class JobRunner: Sendable {
    struct Limits: Sendable {
        var timeLimitSeconds: Double
        var stallSeconds: Double
        var segmentSeconds: Double
        var retry = RetryPolicy()
        /// Scratch space kept free beyond the input's size before a conversion starts.
        var minFreeBytes: Int64 = 0
        /// Priority of the threads that hash, probe, convert and thumbnail (`convert_nice`, `convert_policy`).
        var conversionPriority = ThreadPriority.normal
        /// Ladder, copy-top and segment format (`segmentSeconds` above wins over its own).
        var hls = HLSOptions()
        /// A node of several (shared store): its scratch is `work/<id>/<node>`, so a node that lost a job's lease
        /// and has not noticed yet never writes into the scratch of the node that took the job over.
        var scratchNode: String?
    }

    /// Test-only fault hook: `INBOXD_TEST_CRASH_ON=<text>` aborts the process while converting a media file whose
    /// name contains `<text>`, as a libav crash on hostile input would (the poison-drop tests use it).
    private static let crashOn = ProcessInfo.processInfo.environment["INBOXD_TEST_CRASH_ON"].flatMap { $0.isEmpty ? nil : $0 }

    private let layout: InboxLayout
    let store: any JobStoring
    private let publisher: any Publisher
    private let downloader: URLDownloader
    let limits: Limits
    /// Jobs whose state could not be written (db full) wait here instead of running again at once.
    private let queue: JobQueue
    let io: BlockingIO
    private let logger: Logger

    init(layout: InboxLayout, store: any JobStoring, queue: JobQueue, io: BlockingIO, publisher: any Publisher, downloader: URLDownloader,
         limits: Limits, logger: Logger) {
        self.io = io
        self.layout = layout
        self.store = store
        self.queue = queue
        self.publisher = publisher
        self.downloader = downloader
        self.limits = limits
        self.logger = logger
        for reason in FailureReason.allCases { Self.retries(reason) }  // every label shows, 0 included
    }

    /// Counts deferred retries by reason (`inboxd_job_retries_total{reason}`).
    @discardableResult
    private static func retries(_ reason: FailureReason) -> Counter {
        Counter(label: "inboxd_job_retries_total", dimensions: [("reason", reason.rawValue)])
    }

    func run(_ job: ClaimedJob, control: JobControl) async {
        let id = job.videoID
        var log = logger
        log[metadataKey: "job.id"] = "\(id)"
        let work = layout.work(id) + (limits.scratchNode.map { "/" + $0 } ?? "")
        await blocking { FileSystem.removeTree(work) }
        let watchdog = Task { await self.watch(id: id, control: control) }
        defer { watchdog.cancel() }
        let span = PhaseSpan(store: store, id: id, control: control)
        defer { span.finish() }

        var attempts = 0
        let meter = AttemptMeter(queuedSeconds: Self.seconds(job.queuedAt.duration(to: .now)))
        do {
            guard let row = try await prepareRow(id, logger: log) else { return }
            attempts = row.attempts
            log.info("Starting background processing for video \(id)", metadata: ["job.attempt": "\(attempts)"])
            try await io.run { try FileManager.default.createDirectory(atPath: work + "/hls", withIntermediateDirectories: true) }
            let published = try await process(row: row, work: work, span: span, meter: meter, control: control, logger: log)
            let analytics = meter.analytics(phases: span.phaseSeconds)
            await record(analytics, id: id, logger: log)
            Self.observe(analytics)
            try await store.markReady(id, published)
            log.info("Video conversion completed: \(published.videoURL)", metadata: ["video.url": "\(published.videoURL)"])
            let done = layout.processing(id)
            await blocking {
                // Scratch first: a crash between the two leaves the job directory, whose resume clears both.
                FileSystem.removeTree(work)
                FileSystem.removeTree(done)
            }
            log.info("Background processing completed successfully for video \(id)")
        } catch let lost as LeaseLost {
            // Another node took the job over (this one did not renew its lease in time): its run is the one that
            // counts, and the shared files are its now.
            await blocking { FileSystem.removeTree(work) }
            log.warning("lost the job's lease; leaving the job to the node that took it over", metadata: ["error": "\(lost)"])
        } catch where control.cancelCause == LeaseLost.cancelCause {
            await blocking { FileSystem.removeTree(work) }
            log.warning("lost the job's lease; leaving the job to the node that took it over", metadata: ["error": "\(error)"])
        } catch {
            await blocking { FileSystem.removeTree(work) }
            if control.cancelCause == .shutdown {
                do { try await store.requeue(id, reason: "interrupted by shutdown; resumes on next start") } catch {
                    log.error("cannot record the shutdown; the next start resumes the job anyway", metadata: ["error": "\(error)"])
                }
                log.notice("job put back for the next start")
                return
            }
            if attempts > 0 { await record(meter.analytics(phases: span.phaseSeconds), id: id, logger: log) }
            await settle(id, error: error, failure: AttemptFailure(error, control: control, phase: span.phase),
                         attempts: attempts, logger: log)
        }
    }

    /// Records a failed attempt: a transient failure with attempts left waits in `retrying` (its files stay in
    /// `processing/<id>/`); anything else fails the job and moves its originals to `failed/<id>/`. When the db
    /// cannot take the state change (disk full), the files stay where they are and the job is held back for a
    /// while, then runs again: no state is lost, and nothing spins.
    private func settle(_ id: String, error: Error, failure: AttemptFailure, attempts: Int, logger log: Logger) async {
        let message = Self.describe(error)
        if failure.isTransient, attempts > 0, attempts < limits.retry.maxAttempts {
            let delay = limits.retry.delay(afterAttempt: attempts)
            do {
                try await store.markRetrying(id, error: message, reason: failure.reason, at: Date().addingTimeInterval(delay))
            } catch {
                await holdBack(id, because: error, logger: log)
                return
            }
            Self.retries(failure.reason).increment()
            log.warning("transient failure; retrying later", metadata: [
                "failure.reason": "\(failure.reason.rawValue)", "error": "\(message)", "job.attempt": "\(attempts)",
                "retry.in_s": "\(String(format: "%.1f", delay))", "retry.max_attempts": "\(limits.retry.maxAttempts)",
            ])
            return
        }
        let final = failure.isTransient && attempts > 0 ? "gave up after \(attempts) attempts: \(message)" : message
        do { try await store.markFailed(id, error: final, reason: failure.reason) } catch {
            await holdBack(id, because: error, logger: log)
            return
        }
        await moveToFailed(id, logger: log)
        log.error("Background processing failed for video \(id): \(final)", metadata: ["failure.reason": "\(failure.reason.rawValue)"])
    }

    /// The attempt's analytics; a db that cannot take them costs the numbers, never the job.
    private func record(_ analytics: JobAnalytics, id: String, logger log: Logger) async {
        do { try await store.recordAnalytics(id, analytics) } catch {
            log.warning("cannot record the job's analytics", metadata: ["error": "\(error)"])
        }
    }

    /// `/metrics`' histograms of finished conversions: CPU seconds per job and speed factor.
    private static func observe(_ a: JobAnalytics) {
        if let cpu = a.cpuS { Recorder(label: InboxMetricNames.jobCPU, aggregate: true).record(cpu) }
        if let speed = a.speedFactor { Recorder(label: InboxMetricNames.speedFactor, aggregate: true).record(speed) }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private func holdBack(_ id: String, because error: Error, logger log: Logger) async {
        let seconds = min(max(limits.retry.baseSeconds, 5), 60)
        await queue.hold(id, seconds: seconds)
        log.error("cannot record the job's state; it stays in processing/ and runs again later", metadata: [
            "error": "\(error)", "retry.in_s": "\(Int(seconds))",
        ])
    }

    /// `processing/<id>` → `failed/<id>`, replacing leftovers of an earlier failure. A failure is logged: the row
    /// already says `failed`, so the next sweep tries the move again instead of re-running the job.
    func moveToFailed(_ id: String, logger log: Logger) async {
        let layout = self.layout
        await blocking {
            FileSystem.removeTree(layout.failed(id))
            do { try FileSystem.rename(layout.processing(id), layout.failed(id)) } catch {
                log.error("cannot move a failed job's originals to failed/", metadata: ["job.id": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// File-system bookkeeping on the blocking-I/O pool (see `BlockingIO`); skipped once the pool has shut down.
    private func blocking(_ body: @escaping @Sendable () -> Void) async {
        _ = try? await io.run(body)
    }

    /// Starts the attempt. Handles the states a crash can leave: no row yet (crash between claim rename and
    /// insert) → made from the sidecar; row already ready (crash before cleanup) → nothing to do; row failed but
    /// its files still in `processing/` (the move failed) → move them; every attempt used up → failed (returns nil).
    private func prepareRow(_ id: String, logger log: Logger) async throws -> VideoRow? {
        let dir = layout.processing(id)
        if let existing = try await store.row(id) {
            if existing.status == .ready {
                await blocking { FileSystem.removeTree(dir) }
                return nil
            }
            if existing.status == .failed {
                await moveToFailed(id, logger: log)
                return nil
            }
        } else {
            let layout = self.layout
            let files = try await io.run { try JobFiles(directory: dir, layout: layout) }
            try await store.recordClaim(await files.claimRow(id: id, store: store))
        }
        switch try await store.startAttempt(id, maxAttempts: limits.retry.maxAttempts) {
        case .started(let row):
            return row
        case .vanished:
            throw JobError.rowVanished(id)
        case .exhausted(let reason, let message):
            await moveToFailed(id, logger: log)
            log.error("Background processing failed for video \(id): \(message)", metadata: ["failure.reason": "\(reason.rawValue)"])
            return nil
        }
    }

    private func process(row: VideoRow, work: String, span: PhaseSpan, meter: AttemptMeter, control: JobControl,
                         logger: Logger) async throws -> PublishedVideo {
        let id = row.videoID
        let layout = self.layout
        let files = try await io.run { try JobFiles(directory: layout.processing(id), layout: layout) }
        let sidecar = files.sidecar
        let downloads = files.mediaPath == nil

        let input: String
        if let media = files.mediaPath {
            input = media
        } else if let url = sidecar.sourceURL {
            try await span.enter(.downloading, from: 0, to: 0.25)
            let target = work + "/source"
            let downloader = self.downloader
            _ = try await DedicatedThread.run(name: "inboxd-download") { try downloader.download(url: url, to: target, control: control) }
            input = target
        } else {
            throw JobError.mediaMissing(dir: layout.processing(id))
        }

        try await span.enter(.probing, from: downloads ? 0.25 : 0, to: downloads ? 0.27 : 0.02)
        if let expected = sidecar.sha256 {
            let actual = try await DedicatedThread.run(name: "inboxd-sha256", priority: limits.conversionPriority) { try Digest.sha256Hex(fileAt: input) }
            guard actual == expected else { throw PipelineError.checksumMismatch(expected: expected, actual: actual) }
        }
        let (info, probeCPU) = try await ThreadCPU.run(name: "inboxd-probe", priority: limits.conversionPriority) { try MediaProbe.probe(path: input) }
        meter.addCPU(probeCPU)
        let inputBytes = try? await io.run { FileSystem.status(input)?.size }
        meter.setInputBytes((inputBytes ?? nil) ?? info.sizeBytes)
        try await store.setMediaInfo(id, info)

        try await span.enter(.converting, from: downloads ? 0.27 : 0.02, to: 0.85)
        let minFree = limits.minFreeBytes
        try await io.run { try Self.requireScratchSpace(for: info.sizeBytes, work: work, minFreeBytes: minFree) }
        if let crashOn = Self.crashOn, (input as NSString).lastPathComponent.contains(crashOn) {
            logger.critical("INBOXD_TEST_CRASH_ON matched; aborting the process (test fault hook)")
            abort()
        }
        let out = work + "/hls"
        // The poster first: it is cheap, and the watch page has it while the video converts.
        try await makeThumbnail(input: input, custom: files.thumbnailPath, output: out + "/thumbnail.jpg", meter: meter, control: control)
        let publisher = self.publisher
        let target = try await DedicatedThread.run(name: "inboxd-publish") { () throws(PipelineError) -> any LiveTarget in
            let target = try publisher.liveTarget(videoID: id)
            try target.put([LiveFile(path: out + "/thumbnail.jpg", relativePath: "thumbnail.jpg")], control: control)
            return target
        }

        return try await convertPublishingLive(id: id, input: input, out: out, clip: sidecar.clip, target: target, attempt: row.attempts,
                                               span: span, meter: meter, control: control, logger: logger)
    }

    /// The sidecar's thumbnail (scaled, re-encoded) or a frame at 10 % of the video, as `output`.
    private func makeThumbnail(input: String, custom: String?, output: String, meter: AttemptMeter, control: JobControl) async throws {
        do {
            let (_, thumbCPU) = try await ThreadCPU.run(name: "inboxd-thumbnail", priority: limits.conversionPriority) {
                try Thumbnailer.writeJPEG(input: custom ?? input, output: output, atFraction: custom == nil ? 0.1 : 0, control: control)
            }
            meter.addCPU(thumbCPU)
        } catch let e as PipelineError where custom != nil {
            let name = (custom! as NSString).lastPathComponent
            switch e {
            case .unreadableMedia(_, let reason):
                throw PipelineError.unreadableMedia(path: name, reason: "the thumbnail is not an image (\(reason))")
            case .noVideoStream:
                throw PipelineError.unreadableMedia(path: name, reason: "the thumbnail is not an image")
            default: throw e
            }
        }
    }

    /// A conversion writes about as much as its input (a remux exactly that): with less free scratch space the job
    /// waits for space instead of failing half-way.
    private static func requireScratchSpace(for inputBytes: Int64?, work: String, minFreeBytes: Int64) throws {
        guard let free = DiskSpace.availableBytes(at: work) else { return }
        let need = (inputBytes ?? 0) + minFreeBytes
        if free < need { throw JobError.noScratchSpace(path: work, free: free, need: need) }
    }

    /// The per-job time limit and stall watchdog: either aborts the job through its control.
    private func watch(id: String, control: JobControl) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            if control.secondsSinceStart > limits.timeLimitSeconds {
                control.cancel(.timeLimit(seconds: Int(limits.timeLimitSeconds)))
            } else if control.secondsSinceProgress > limits.stallSeconds {
                control.cancel(.stalled(seconds: Int(limits.stallSeconds)))
            }
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let e as PipelineError: e.description
        case let e as JobError: e.description
        case let e as SidecarError: e.description
        case let e as SystemError: e.description
        default: "\(error)"
        }
    }
}
