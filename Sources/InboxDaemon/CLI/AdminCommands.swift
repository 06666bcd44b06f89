import ArgumentParser
import Foundation
import Logging
import Pipeline
import Store

struct RetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Re-run failed jobs from their kept originals (the running daemon picks them up within seconds).")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Video id of a failed job.") var videoID: String?
    @Flag(name: .customLong("all-failed"), help: "Retry every failed job.") var allFailed = false

    func validate() throws {
        guard (videoID != nil) != allFailed else { throw ValidationError("give a VIDEO_ID or --all-failed") }
    }

    func run() async throws {
        do {
            let wanted = allFailed ? nil : [videoID!.lowercased()]
            let ids = try await withJobStore(try common.load()) { try await $0.retry(ids: wanted) }
            if let videoID, ids.isEmpty {
                throw ValidationError("no failed job with id \(videoID)")
            }
            for id in ids { print("queued for retry: \(id)") }
            if allFailed { print("\(ids.count) job(s) queued for retry") }
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show one job, human-readable; without an id, the jobs in processing and the node running each.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Video id.") var videoID: String?

    func run() async throws {
        do {
            guard let videoID else {
                let jobs = try await withJobStore(try common.load()) { try await $0.processingJobs() }
                print(Self.table(jobs))
                return
            }
            let id = videoID.lowercased()
            guard let r = try await withJobStore(try common.load(), { try await $0.row(id) }) else {
                throw ValidationError("no job with id \(videoID)")
            }
            var lines = [
                "video_id:   \(r.videoID)", "title:      \(r.title)",
                "status:     \(r.status) (phase \(r.phase), progress \(Int((r.progress * 100).rounded()))%)",
                "attempts:   \(r.attempts)", "source:     \(r.source)\(r.sourceURL.map { " \($0)" } ?? "")",
                "created_at: \(r.createdAt)", "updated_at: \(r.updatedAt)",
            ]
            if let e = r.error { lines.append("error:      \(e)\(r.failureReason.map { " [\($0)]" } ?? "")") }
            if let node = r.lockedBy { lines.append("node:       \(node) (lease until \(r.leaseUntil ?? "-"))") }
            if let next = r.nextAttemptAt { lines.append("next try:   \(next) (transient failure; attempt \(r.attempts + 1) then)") }
            if r.status == .ready { lines += ["video_url:  \(r.videoURL)", "thumbnail:  \(r.thumbnailURL)"] }
            if let d = r.durationS {
                lines.append("media:      \(String(format: "%.2f", d)) s, \(r.width ?? 0)x\(r.height ?? 0), \(r.videoCodec ?? "-")/\(r.audioCodec ?? "-"), \(r.sizeBytes ?? 0) bytes")
            }
            print(lines.joined(separator: "\n"))
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}

/// Runs `body` on the store the config names: the PostgreSQL one of `[store] url`, else the SQLite file `db`.
func withJobStore<T: Sendable>(_ config: Config, _ body: @Sendable (any JobStoring) async throws -> T) async throws -> T {
    if let shared = config.store {
        return try await PGJobStore.with(url: shared.url, node: shared.node, leaseSeconds: shared.leaseSeconds,
                                         logger: Logger(label: "inboxd.store")) { try await body($0) }
    }
    return try await body(try JobStore(path: config.db))
}

extension StatusCommand {
    /// One line per job in processing: id, phase, progress, attempts and the node holding it (`-` when none does:
    /// waiting for a worker, or on the SQLite store).
    static func table(_ jobs: [VideoRow]) -> String {
        var lines = ["VIDEO_ID                              PHASE        PROGRESS  ATTEMPTS  NODE (LEASE UNTIL)"]
        for j in jobs {
            let node = j.lockedBy.map { "\($0) (\(j.leaseUntil ?? "-"))" } ?? "-"
            lines.append(j.videoID.padding(toLength: 38, withPad: " ", startingAt: 0)
                + j.phase.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)
                + "\(Int((j.progress * 100).rounded()))%".padding(toLength: 10, withPad: " ", startingAt: 0)
                + "\(j.attempts)".padding(toLength: 10, withPad: " ", startingAt: 0) + node)
        }
        lines.append("\(jobs.count) job(s) in processing")
        return lines.joined(separator: "\n")
    }
}

struct ConvertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert", abstract: "One-off HLS conversion of a file, no db (the daemon's own pipeline code).")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Input media file.") var input: String
    @Argument(help: "Output directory (gets master.m3u8, <rendition>/, thumbnail.jpg).") var outdir: String
    @Option(help: "Cut START,DURATION in seconds before converting.") var clip: String?
    @Option(help: "HLS segment length in seconds.") var segmentSeconds: Double = 6
    @Option(help: "A shorter first segment, in seconds (MPEG-TS only; default: as long as the others).")
    var firstSegmentSeconds: Double?
    @Option(help: "Segment container: ts or fmp4 (default: the config's segment_format when --config is given, else ts).")
    var segmentFormat: String?

    func run() async throws {
        var range: ClipRange? = nil
        if let clip {
            let parts = clip.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let s = parts[0], let d = parts[1], s >= 0, d > 0 else {
                throw ValidationError("--clip expects START,DURATION in seconds, e.g. 10,30")
            }
            range = ClipRange(start: s, duration: d)
        }
        LogSetup.bootstrap(level: "warning", toStandardError: true)
        LibAVLog.install(logger: Logger(label: "inboxd.libav"))
        let control = JobControl()
        var options = HLSOptions()
        options.segmentSeconds = segmentSeconds
        options.firstSegmentSeconds = firstSegmentSeconds
        // The ladder comes from the config only when one is named, so a one-off convert needs no config file.
        if common.config != nil {
            let config = try common.load()
            options.ladder = config.ladder
            options.ladderCopyTop = config.ladderCopyTop
            options.segmentFormat = config.segmentFormat
        }
        if let segmentFormat {
            guard let format = SegmentFormat(rawValue: segmentFormat) else {
                throw ValidationError("--segment-format expects ts or fmp4")
            }
            options.segmentFormat = format
        }
        let converter = HLSConverter(options: options)
        let input = absolute(self.input), out = absolute(outdir), clipRange = range
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let result = try await DedicatedThread.run(name: "inboxd-convert") {
                try converter.convert(input: input, outputDirectory: out, clip: clipRange, control: control)
            }
            try await DedicatedThread.run(name: "inboxd-thumbnail") {
                try Thumbnailer.writeJPEG(input: input, output: out + "/thumbnail.jpg", control: control)
            }
            let rungs = result.renditions.map(\.name).joined(separator: ", ")
            print("\(result.mode.rawValue): \(out)/master.m3u8 (\(rungs), \(String(format: "%.2f", result.durationSeconds)) s)")
        } catch { throw fail(error) }
    }
}

struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish", abstract: "One-off upload of a directory to the configured S3 bucket.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Directory to upload (its files keep their relative paths).") var dir: String
    @Option(help: "Key prefix inside the bucket (default: the config's [s3] prefix).") var prefix: String?

    func run() async throws {
        do {
            let config = try common.load()
            guard let s3 = config.s3 else { throw ConfigError.badValue(key: "s3", reason: "no [s3] table in the config") }
            LogSetup.bootstrap(level: config.logLevel, toStandardError: true)
            Curl.globalInit()
            let publisher = S3Publisher(configuration: s3, logger: Logger(label: "inboxd.publish"))
            let keys = try await publisher.upload(directory: absolute(dir), keyPrefix: prefix ?? s3.prefix, control: JobControl())
            for k in keys { print(k) }
        } catch { throw fail(error) }
    }
}
