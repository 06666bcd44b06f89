import Foundation
import Logging
import Pipeline

/// Converting while publishing: `LivePublication` runs on its own thread beside the conversion, so the video is
/// watchable (`preview_url`) long before it is ready.
extension JobRunner {
    /// Test-only fault hook: `INBOXD_TEST_CRASH_AFTER_SEGMENTS=<n>` aborts the process on a job's first attempt once
    /// its live-published playlist lists `n` segments (the crash-mid-job tests use it).
    private static let crashAfterSegments = ProcessInfo.processInfo.environment["INBOXD_TEST_CRASH_AFTER_SEGMENTS"].flatMap { Int($0) }

    /// Converts `input` into `out` while publishing it to `target`; returns once the last files are published.
    func convertPublishingLive(id: String, input: String, out: String, clip: ClipRange?, target: any LiveTarget, attempt: Int,
                               span: PhaseSpan, meter: AttemptMeter, control: JobControl, logger: Logger) async throws -> PublishedVideo {
        var options = limits.hls
        options.segmentSeconds = limits.segmentSeconds
        let converter = HLSConverter(options: options)
        let (playable, announce) = AsyncStream.makeStream(of: String.self)
        let crashAfter = attempt == 1 ? Self.crashAfterSegments : nil
        let live = LivePublication(directory: out, target: target, logger: logger) { event in
            switch event {
            case .playable(let url):
                announce.yield(url)
            case .published(let segments):
                if let crashAfter, segments >= crashAfter {
                    logger.critical("INBOXD_TEST_CRASH_AFTER_SEGMENTS reached; aborting the process (test fault hook)")
                    abort()
                }
            }
        }
        let publishing = Task { try await DedicatedThread.run(name: "inboxd-live-publish") { try live.run(control: control) } }
        let recording = Task { for await url in playable { await self.recordPlayable(id, url: url, logger: logger) } }
        defer { announce.finish() }
        let result: HLSResult
        do {
            let (converted, convertCPU) = try await ThreadCPU.run(name: "inboxd-hls", priority: limits.conversionPriority) {
                try converter.convert(input: input, outputDirectory: out, clip: clip, control: control)
            }
            meter.addCPU(convertCPU)
            result = converted
        } catch {
            live.abandon()
            // A failed publication cancelled the conversion: its error is the one to report.
            if case .failure(let e as PipelineError) = await publishing.result {
                if case .cancelled = e {} else { throw e }
            }
            throw error
        }
        live.converted()
        meter.setMediaSeconds(result.durationSeconds)
        logger.info("converted", metadata: ["hls.mode": "\(result.mode.rawValue)", "hls.rendition": "\(result.rendition)",
                                            "hls.renditions": "\(result.renditions.map(\.name).joined(separator: ","))",
                                            "media.duration_s": "\(result.durationSeconds)"])
        meter.setOutputBytes(try? await io.run { FileSystem.treeSize(out) })
        do { try await span.enter(.uploading, from: 0.85, to: 1.0) } catch {
            live.abandon()
            _ = await publishing.result
            throw error
        }
        let master = try await publishing.value
        announce.finish()
        await recording.value
        control.progressed(1)
        span.finish()
        return PublishedVideo(videoURL: master, thumbnailURL: target.url(of: "thumbnail.jpg"))
    }

    /// `preview_url`/`playable_at` and the audit entry; a db that cannot take them costs the preview, never the job.
    private func recordPlayable(_ id: String, url: String, logger log: Logger) async {
        do {
            try await store.markPlayable(id, previewURL: url)
            log.info("playable while converting", metadata: ["preview.url": "\(url)"])
        } catch {
            log.warning("cannot record the preview URL", metadata: ["error": "\(error)"])
        }
    }
}
