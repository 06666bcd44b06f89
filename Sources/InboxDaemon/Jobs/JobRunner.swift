import Foundation
import Logging
import Pipeline
import Store
import Synchronization

/// Runs one claimed job through the pipeline: download (URL ingest) → probe → HLS → thumbnail → publish, with
/// the row's phase and progress following along. libav and curl work runs on dedicated threads.
final class JobRunner: Sendable {
    struct Limits: Sendable {
        var timeLimitSeconds: Double
        var stallSeconds: Double
        var segmentSeconds: Double
    }

    static let shutdownReason = "daemon shutting down"

    private let layout: InboxLayout
    private let store: JobStore
    private let publisher: any Publisher
    private let downloader: URLDownloader
    private let limits: Limits
    private let logger: Logger

    init(layout: InboxLayout, store: JobStore, publisher: any Publisher, downloader: URLDownloader, limits: Limits, logger: Logger) {
        self.layout = layout
        self.store = store
        self.publisher = publisher
        self.downloader = downloader
        self.limits = limits
        self.logger = logger
    }

    enum Outcome: Equatable { case ready, failed, requeued }

    func run(_ job: ClaimedJob, control: JobControl) async -> Outcome {
        let id = job.videoID
        var log = logger
        log[metadataKey: "job.id"] = "\(id)"
        let work = layout.work(id)
        FileSystem.removeTree(work)
        let watchdog = Task { await self.watch(id: id, control: control) }
        defer { watchdog.cancel() }

        do {
            guard let row = try await prepareRow(id) else { return .ready }
            log.info("Starting background processing for video \(id)")
            try FileManager.default.createDirectory(atPath: work + "/hls", withIntermediateDirectories: true)
            let published = try await process(row: row, work: work, control: control, logger: log)
            try await store.markReady(id, published)
            log.info("Video conversion completed: \(published.videoURL)", metadata: ["video.url": "\(published.videoURL)"])
            FileSystem.removeTree(layout.processing(id))
            FileSystem.removeTree(work)
            log.info("Background processing completed successfully for video \(id)")
            return .ready
        } catch {
            FileSystem.removeTree(work)
            if control.cancelReason == Self.shutdownReason {
                try? await store.requeue(id, reason: "interrupted by shutdown; resumes on next start")
                log.notice("job put back for the next start")
                return .requeued
            }
            let message = Self.describe(error)
            let reason = FailureReason(error, control: control, limits: limits)
            do { try await store.markFailed(id, error: message, reason: reason) } catch {
                log.error("cannot record failure", metadata: ["error": "\(error)"])
            }
            FileSystem.removeTree(layout.failed(id))
            try? FileSystem.rename(layout.processing(id), layout.failed(id))
            log.error("Background processing failed for video \(id): \(message)", metadata: ["failure.reason": "\(reason.rawValue)"])
            return .failed
        }
    }

    /// Starts the attempt. Handles the states a crash can leave: no row yet (crash between claim rename and
    /// insert) → made from the sidecar; row already ready (crash before cleanup) → nothing to do (returns nil).
    private func prepareRow(_ id: String) async throws -> VideoRow? {
        let dir = layout.processing(id)
        if let existing = try await store.row(id) {
            if existing.status == JobStatus.ready.rawValue {
                FileSystem.removeTree(dir)
                return nil
            }
        } else {
            let files = try JobFiles(directory: dir, layout: layout)
            try await store.recordClaim(VideoRow(
                videoID: id, title: files.sidecar.title, description: files.sidecar.description,
                userID: files.sidecar.userID, username: files.sidecar.username, visibility: files.sidecar.visibility,
                source: files.mediaPath == nil ? .url : .drop, sourceURL: files.sidecar.sourceURL, sidecar: files.sidecar.raw))
        }
        guard let row = try await store.startAttempt(id) else { throw JobError.rowVanished(id) }
        return row
    }

    private func process(row: VideoRow, work: String, control: JobControl, logger: Logger) async throws -> PublishedVideo {
        let id = row.video_id
        let files = try JobFiles(directory: layout.processing(id), layout: layout)
        let sidecar = files.sidecar
        let downloads = files.mediaPath == nil
        let span = PhaseSpan(store: store, id: id, control: control)

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
            let actual = try await DedicatedThread.run(name: "inboxd-sha256") { try Digest.sha256Hex(fileAt: input) }
            guard actual == expected else { throw PipelineError.checksumMismatch(expected: expected, actual: actual) }
        }
        let info = try await DedicatedThread.run(name: "inboxd-probe") { try MediaProbe.probe(path: input) }
        try await store.setMediaInfo(id, info)

        try await span.enter(.converting, from: downloads ? 0.27 : 0.02, to: 0.85)
        var options = HLSOptions()
        options.segmentSeconds = limits.segmentSeconds
        let converter = HLSConverter(options: options)
        let out = work + "/hls"
        let clip = sidecar.clip
        let result = try await DedicatedThread.run(name: "inboxd-hls") {
            try converter.convert(input: input, outputDirectory: out, clip: clip, control: control)
        }
        logger.info("converted", metadata: ["hls.mode": "\(result.mode.rawValue)", "hls.rendition": "\(result.rendition)",
                                            "media.duration_s": "\(result.durationSeconds)"])
        let thumbSource = files.thumbnailPath
        try await DedicatedThread.run(name: "inboxd-thumbnail") {
            try Thumbnailer.writeJPEG(input: thumbSource ?? input, output: out + "/thumbnail.jpg",
                                      atFraction: thumbSource == nil ? 0.1 : 0, control: control)
        }

        try await span.enter(.uploading, from: 0.85, to: 1.0)
        let published = try await publisher.publish(directory: out, videoID: id, control: control)
        span.finish()
        return published
    }

    /// The per-job time limit and stall watchdog: either aborts the job through its control.
    private func watch(id: String, control: JobControl) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            if control.secondsSinceStart > limits.timeLimitSeconds {
                control.cancel(reason: Self.timeLimitMessage(limits))
            } else if control.secondsSinceProgress > limits.stallSeconds {
                control.cancel(reason: Self.stallMessage(limits))
            }
        }
    }

    static func timeLimitMessage(_ limits: Limits) -> String {
        "processing time limit of \(Int(limits.timeLimitSeconds)) s exceeded"
    }

    static func stallMessage(_ limits: Limits) -> String {
        "no progress for \(Int(limits.stallSeconds)) s (stalled)"
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

enum JobError: Error, CustomStringConvertible {
    case rowVanished(String)
    case mediaMissing(dir: String)
    case noSidecar(dir: String)

    var description: String {
        switch self {
        case .rowVanished(let id): "row for video \(id) vanished from the db"
        case .mediaMissing(let dir): "media file missing from \(dir) and the sidecar has no source_url"
        case .noSidecar(let dir): "no sidecar in \(dir)"
        }
    }
}

/// The files of one job directory: its sidecar, its media (nil for URL ingest) and an optional thumbnail.
struct JobFiles {
    let sidecar: Sidecar
    let mediaPath: String?
    let thumbnailPath: String?

    init(directory: String, layout: InboxLayout) throws {
        let names = FileSystem.listDirectory(directory)
        guard let sidecarName = names.sorted().first(where: { DropNames.isSidecar($0) }) else {
            throw JobError.noSidecar(dir: directory)
        }
        sidecar = try Sidecar.parse(try FileSystem.readSmallFile(directory + "/" + sidecarName, limit: Sidecar.maxBytes))
        let mediaName = String(sidecarName.dropLast(5))
        let media = directory + "/" + mediaName
        if FileSystem.status(media) == nil, sidecar.sourceURL == nil,
           let origin = try? FileSystem.readSmallFile(directory + "/" + Claimer.originFile, limit: 4096) {
            // A claim cut short between the sidecar and media renames: finish it.
            let source = String(decoding: origin, as: UTF8.self) + "/" + mediaName
            try? FileSystem.renameNoReplace(source, media)
        }
        switch FileSystem.status(media)?.kind {
        case .regular?: mediaPath = media
        case nil: mediaPath = nil
        case let kind?: throw PipelineError.unreadableMedia(path: mediaName, reason: "not a regular file (\(kind))")
        }
        if let t = sidecar.thumbnail, FileSystem.status(directory + "/" + t)?.kind == .regular {
            thumbnailPath = directory + "/" + t
        } else {
            thumbnailPath = nil
        }
    }
}

/// Maps a step's own 0–1 progress into the job's range for the current phase, and writes it to the row at most
/// twice a second (the front end polls every 2–3 s; more writes would only load SQLite).
final class PhaseSpan: Sendable {
    private final class Cell: Sendable {
        let value = Mutex<(latest: Double, written: Double)>((0, -1))
    }

    private let store: JobStore
    private let id: String
    private let control: JobControl
    private let cell = Cell()
    private let flusher = Mutex<Task<Void, Never>?>(nil)

    init(store: JobStore, id: String, control: JobControl) {
        self.store = store
        self.id = id
        self.control = control
    }

    func enter(_ phase: JobPhase, from: Double, to: Double) async throws {
        try control.check()
        try await store.setPhase(id, phase, progress: from)
        let cell = self.cell
        cell.value.withLock { $0 = (from, from) }
        control.setProgressHandler { fraction in
            cell.value.withLock { $0.latest = from + (to - from) * fraction }
        }
        let store = self.store, id = self.id
        flusher.withLock { task in
            guard task == nil else { return }
            task = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(500))
                    let value = cell.value.withLock { s -> Double? in
                        guard s.latest != s.written else { return nil }
                        s.written = s.latest
                        return s.latest
                    }
                    if let value { try? await store.setProgress(id, value) }
                }
            }
        }
    }

    func finish() {
        control.setProgressHandler(nil)
        flusher.withLock { $0?.cancel() }
    }

    deinit { flusher.withLock { $0?.cancel() } }
}
