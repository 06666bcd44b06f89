import Foundation
import Synchronization
import Pipeline
import Testing
import TestSupport

@Suite("HLS conversion")
struct MediaHLSTests {
    /// Checks the README's output layout and that ffprobe and ffmpeg read the result; returns ffprobe's view of the master.
    func checkLayout(_ out: String, rendition: String) throws -> FFprobe {
        let master = try String(contentsOfFile: "\(out)/master.m3u8", encoding: .utf8)
        #expect(master.contains("#EXT-X-STREAM-INF:"))
        #expect(master.contains("\(rendition)/index.m3u8"))
        let renditionFiles = mediaDirectoryListing("\(out)/\(rendition)")
        #expect(renditionFiles.contains("index.m3u8"))
        #expect(renditionFiles.contains("seg_00000.ts"))
        let index = try String(contentsOfFile: "\(out)/\(rendition)/index.m3u8", encoding: .utf8)
        #expect(index.contains("#EXT-X-PLAYLIST-TYPE:VOD"))
        #expect(index.contains("#EXT-X-ENDLIST"))
        #expect(try FFprobe.decodeErrors(path: "\(out)/master.m3u8") == "")
        // BANDWIDTH must cover what the rendition really needs, or players pick it for links that are too slow.
        let segmentBytes = try renditionFiles.filter { $0.hasSuffix(".ts") }.reduce(0) { sum, name in
            sum + ((try FileManager.default.attributesOfItem(atPath: "\(out)/\(rendition)/\(name)")[.size] as? Int) ?? 0)
        }
        let seconds = try FFprobe.segmentDurations(playlist: "\(out)/\(rendition)/index.m3u8").reduce(0, +)
        let bandwidth = master.split(separator: ",").first { $0.contains("BANDWIDTH=") }
            .flatMap { Double($0.split(separator: "=").last ?? "") } ?? 0
        #expect(bandwidth >= Double(segmentBytes) * 8 / seconds * 0.9, "BANDWIDTH \(bandwidth)")
        return try FFprobe(path: "\(out)/master.m3u8")
    }

    @Test("H.264/AAC is stream-copied: same codecs, same duration, playable playlist")
    func remuxesH264AAC() async throws {
        let media = try MediaFactory()
        let input = try media.h264AAC(seconds: 14, gopSeconds: 2)
        let out = media.path("out")
        let progress = ProgressRecorder()
        let control = JobControl()
        control.setProgressHandler { progress.append($0) }
        let result = try await convertOnThread(input, to: out, control: control)
        #expect(result.mode == .remux)
        #expect(result.rendition == "240p")
        #expect(abs(result.durationSeconds - 14) < 0.5)
        let probe = try checkLayout(out, rendition: "240p")
        #expect(probe.video?.codecName == "h264")
        #expect(probe.audio?.codecName == "aac")
        #expect(abs((probe.durationSeconds ?? 0) - 14) < 0.5)
        // 2 s GOP, 6 s target: the muxer cuts at the first keyframe after 6 s.
        let segments = try FFprobe.segmentDurations(playlist: "\(out)/240p/index.m3u8")
        #expect(segments.count == 3)
        #expect(segments.dropLast().allSatisfy { abs($0 - 6) < 0.1 })
        #expect(progress.values.last == 1)
        #expect(progress.values == progress.values.sorted())
    }

    /// MPEG-TS segments are cut by inboxd itself (`TSSegments`), not by libav's "hls" muxer: the result must be
    /// what that muxer writes, so players, the publisher and the master's BANDWIDTH see no change. The ffmpeg CLI
    /// starts its timestamps elsewhere (its own offset), so PTS/PCR bytes differ; every TS packet of every segment
    /// must still be the same size, stream (PID) and payload start, and the playlist identical.
    @Test("a remux's segments and playlist are those of libav's hls muxer (ffmpeg CLI -f hls), packet for packet")
    func remuxMatchesLibavHLSMuxer() async throws {
        let media = try MediaFactory()
        let input = try media.h264AAC(seconds: 20, gopSeconds: 2)
        let out = media.path("out")
        _ = try await convertOnThread(input, to: out)
        let reference = media.path("reference")
        try FileManager.default.createDirectory(atPath: reference, withIntermediateDirectories: true)
        try ExternalTool.check("ffmpeg", ["-nostdin", "-v", "error", "-i", input, "-map", "0:v:0", "-map", "0:a:0", "-c", "copy",
                                          "-muxdelay", "0.7", "-f", "hls", "-hls_time", "6", "-hls_playlist_type", "vod",
                                          "-hls_flags", "independent_segments", "-hls_segment_filename", "\(reference)/seg_%05d.ts",
                                          "\(reference)/index.m3u8"])
        let ours = mediaDirectoryListing("\(out)/240p").filter { $0.hasSuffix(".ts") }.sorted()
        let theirs = mediaDirectoryListing(reference).filter { $0.hasSuffix(".ts") }.sorted()
        #expect(ours == theirs)
        #expect(ours.count == 4)
        // Each TS packet's PID and payload-unit-start bit: which stream it carries and where each PES begins.
        func layout(_ data: Data) -> [UInt16] {
            stride(from: 0, to: data.count - 187, by: 188).map { i in
                let b = data.startIndex + i
                return (UInt16(data[b + 1] & 0x5f) << 8) | UInt16(data[b + 2])
            }
        }
        for name in ours {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(out)/240p/\(name)"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(reference)/\(name)"))
            #expect(a.count == b.count, "\(name): \(a.count) bytes against libav's \(b.count)")
            #expect(layout(a) == layout(b), "\(name): TS packets differ in stream or PES starts")
        }
        let playlist = try String(contentsOfFile: "\(out)/240p/index.m3u8", encoding: .utf8)
        let libavPlaylist = try String(contentsOfFile: "\(reference)/index.m3u8", encoding: .utf8)
        #expect(playlist == libavPlaylist)
    }

    @Test("while converting, the TS playlist is an EVENT playlist that lists only complete segments")
    func eventPlaylistListsCompleteSegments() async throws {
        let media = try MediaFactory()
        let input = try media.h264AAC(seconds: 20, gopSeconds: 2)
        let out = media.path("out")
        let seen = Mutex<[String]>([])
        let control = JobControl()
        // Progress comes from the reading thread while the muxing thread writes: look at the playlist then.
        control.setProgressHandler { _ in
            if let text = try? String(contentsOfFile: "\(out)/240p/index.m3u8", encoding: .utf8) {
                seen.withLock { $0.append(text) }
            }
        }
        _ = try await convertOnThread(input, to: out, control: control)
        let snapshots = seen.withLock { $0 }
        let live = snapshots.filter { $0.contains("#EXT-X-PLAYLIST-TYPE:EVENT") }
        #expect(!live.isEmpty, "no EVENT playlist seen in \(snapshots.count) looks")
        for text in live {
            #expect(!text.contains("#EXT-X-ENDLIST"))
            // Every segment listed is in place, whole, under its final name.
            for name in text.split(separator: "\n").filter({ $0.hasPrefix("seg_") }) {
                #expect(!name.hasSuffix(".tmp"))
                let size = try FileManager.default.attributesOfItem(atPath: "\(out)/240p/\(name)")[.size] as? Int ?? 0
                #expect(size > 0 && size % 188 == 0, "\(name): \(size) bytes")
            }
        }
        let final = try String(contentsOfFile: "\(out)/240p/index.m3u8", encoding: .utf8)
        #expect(final.contains("#EXT-X-PLAYLIST-TYPE:VOD") && final.hasSuffix("#EXT-X-ENDLIST\n"))
        #expect(!mediaDirectoryListing("\(out)/240p").contains { $0.hasSuffix(".tmp") })
    }

    @Test("H.264 without audio is stream-copied into a video-only rendition")
    func remuxesVideoOnly() async throws {
        let media = try MediaFactory()
        let out = media.path("out")
        let result = try await convertOnThread(try media.h264NoAudio(seconds: 8), to: out)
        #expect(result.mode == .remux)
        let probe = try checkLayout(out, rendition: "240p")
        #expect(probe.video?.codecName == "h264")
        #expect(probe.audio == nil)
        #expect(abs((probe.durationSeconds ?? 0) - 8) < 0.5)
    }

    @Test("VP9/Opus is transcoded to H.264 yuv420p + AAC 48 kHz stereo with ~6 s segments")
    func transcodesVP9Opus() async throws {
        let media = try MediaFactory()
        let out = media.path("out")
        let result = try await convertOnThread(try media.vp9Opus(seconds: 15), to: out)
        #expect(result.mode == .transcode)
        #expect(result.rendition == "240p")
        let probe = try checkLayout(out, rendition: "240p")
        #expect(probe.video?.codecName == "h264")
        #expect(probe.video?.pixFmt == "yuv420p")
        #expect(probe.audio?.codecName == "aac")
        #expect(probe.audio?.sampleRate == "48000")
        #expect(probe.audio?.channels == 2)
        #expect(abs((probe.durationSeconds ?? 0) - 15) < 0.5)
        // Keyframes are forced every 6 s, independent of the source's 2 s GOP.
        let segments = try FFprobe.segmentDurations(playlist: "\(out)/240p/index.m3u8")
        #expect(segments.count == 3)
        #expect(segments.dropLast().allSatisfy { abs($0 - 6) < 0.1 })
        let keyframes = try FFprobe.keyframeTimes(path: "\(out)/240p/seg_00001.ts")
        #expect(keyframes.count == 1)
    }

    /// Test media, an output path and options with `firstSegmentSeconds`.
    static func rig(firstSegmentSeconds: Double?) throws -> (MediaFactory, String, HLSOptions) {
        let media = try MediaFactory()
        var options = HLSOptions()
        options.firstSegmentSeconds = firstSegmentSeconds
        return (media, media.path("out"), options)
    }

    /// The playlist's `#EXTINF` durations are these, within 0.1 s each.
    static func durations(_ actual: [Double], match expected: [Double]) -> Bool {
        actual.count == expected.count && zip(actual, expected).allSatisfy { abs($0 - $1) < 0.1 }
    }

    @Test("a shorter first segment ends at the first key frame past first_segment_seconds; the others keep their length, the live playlist its target duration")
    func shorterFirstSegmentWhileTranscoding() async throws {
        let (media, out, options) = try Self.rig(firstSegmentSeconds: 2)
        let seen = Mutex<[String]>([])
        let control = JobControl()
        control.setProgressHandler { _ in
            if let text = try? String(contentsOfFile: "\(out)/240p/index.m3u8", encoding: .utf8) { seen.withLock { $0.append(text) } }
        }
        let result = try await convertOnThread(try media.vp9Opus(seconds: 15), to: out, options: options, control: control)
        #expect(result.mode == .transcode)
        _ = try checkLayout(out, rendition: "240p")
        let segments = try FFprobe.segmentDurations(playlist: "\(out)/240p/index.m3u8")
        #expect(Self.durations(segments, match: [2, 6, 6, 1]), "\(segments)")
        #expect(try FFprobe.keyframeTimes(path: "\(out)/240p/seg_00000.ts").count == 1)
        // RFC 8216 §6.2.1: EXT-X-TARGETDURATION must not change while the playlist grows.
        let live = seen.withLock { $0 }.filter { $0.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && $0.contains("seg_00000.ts") }
        #expect(!live.isEmpty)
        for text in live { #expect(text.contains("#EXT-X-TARGETDURATION:6\n"), "\(text)") }
    }

    @Test("beside a stream-copied top rung the short first segment follows the source's key frames, in every rung alike")
    func shorterFirstSegmentWithCopiedTopRung() async throws {
        let (media, out, options) = try Self.rig(firstSegmentSeconds: 2)
        let result = try await convertOnThread(try media.h264AAC(seconds: 10, width: 640, height: 480, gopSeconds: 1),
                                               to: out, options: options)
        #expect(result.mode == .remux)
        #expect(result.renditions.map(\.name) == ["480p", "360p"])
        let top = try FFprobe.segmentDurations(playlist: "\(out)/480p/index.m3u8")
        let lower = try FFprobe.segmentDurations(playlist: "\(out)/360p/index.m3u8")
        #expect(Self.durations(top, match: [2, 6, 2]), "\(top)")
        #expect(zip(top, lower).allSatisfy { abs($0 - $1) < 0.05 } && top.count == lower.count, "\(top) \(lower)")
    }

    /// Segments are cut counting from the rendition's first packet, so the forced key frames count from the first
    /// frame: counted from 0, each fell 21 ms short of a segment end and every segment was two long (12 s, not 6).
    @Test("a source whose video starts after its audio (Matroska with AAC priming) still gets segments of the set length",
          arguments: [nil, 2.0])
    func videoStartingAfterItsAudioIsCutOnTime(firstSegmentSeconds: Double?) async throws {
        let (media, out, options) = try Self.rig(firstSegmentSeconds: firstSegmentSeconds)
        let input = try media.mpeg4AAC(seconds: 15)
        #expect(try FFprobe.keyframeTimes(path: input).first.map { $0 > 0.01 } == true, "the fixture's video starts at 0")
        let result = try await convertOnThread(input, to: out, options: options)
        #expect(result.mode == .transcode)
        let segments = try FFprobe.segmentDurations(playlist: "\(out)/240p/index.m3u8")
        let expected: [Double] = firstSegmentSeconds == nil ? [6, 6, 3] : [2, 6, 6, 1]
        #expect(Self.durations(segments, match: expected), "\(segments)")
    }

    @Test("fMP4 segments, cut by libav's hls muxer, stay uniform whatever first_segment_seconds says")
    func fmp4IgnoresAShorterFirstSegment() async throws {
        let (media, out, shortFirst) = try Self.rig(firstSegmentSeconds: 2)
        var options = shortFirst
        options.segmentFormat = .fmp4
        _ = try await convertOnThread(try media.vp9Opus(seconds: 13), to: out, options: options)
        let segments = try FFprobe.segmentDurations(playlist: "\(out)/240p/index.m3u8")
        #expect(Self.durations(segments, match: [6, 6, 1]), "\(segments)")
    }

    @Test("odd-sized VP9 without audio is transcoded to an even size with no audio stream")
    func transcodesOddSizedVideoOnly() async throws {
        let media = try MediaFactory()
        let out = media.path("out")
        let result = try await convertOnThread(try media.vp9NoAudio(seconds: 4, width: 321, height: 241), to: out)
        #expect(result.mode == .transcode)
        #expect(result.rendition == "240p")
        let probe = try checkLayout(out, rendition: "240p")
        #expect(probe.video?.width == 320)
        #expect(probe.video?.height == 240)
        #expect(probe.audio == nil)
        #expect(abs((probe.durationSeconds ?? 0) - 4) < 0.5)
    }

    @Test("a video with a display rotation (phone portrait) is transcoded upright, as the ffmpeg CLI shows it",
          arguments: [90, 180, 270])
    func turnsRotatedVideoUpright(degrees: Int) async throws {
        let media = try MediaFactory()
        let input = try media.rotated(degrees: degrees)
        let portrait = degrees != 180
        let info = try MediaProbe.probe(path: input)
        #expect(info.width == (portrait ? 240 : 320))
        #expect(info.height == (portrait ? 320 : 240))
        let out = media.path("out")
        let result = try await convertOnThread(input, to: out)
        #expect(result.mode == .transcode)
        #expect(result.rendition == (portrait ? "320p" : "240p"))
        let probe = try checkLayout(out, rendition: result.rendition)
        #expect(probe.video?.width == (portrait ? 240 : 320))
        #expect(probe.video?.height == (portrait ? 320 : 240))
        let (w, h) = portrait ? (6, 8) : (8, 6)
        let ours = try FFprobe.firstFramePixels(path: "\(out)/master.m3u8", width: w, height: h)
        let reference = try FFprobe.firstFramePixels(path: input, width: w, height: h)
        #expect(ours.count == reference.count)
        #expect(meanDifference(ours, reference) < 12, "\(meanDifference(ours, reference))")
        // The comparison can tell orientations apart: the same picture upside down is far off.
        #expect(meanDifference(ours, upsideDown(reference, width: w)) > 30)
    }

    func meanDifference(_ a: [UInt8], _ b: [UInt8]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return .infinity }
        return Double(zip(a, b).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(a.count)
    }

    /// rgb24 pixels turned by 180°.
    func upsideDown(_ pixels: [UInt8], width: Int) -> [UInt8] {
        stride(from: 0, to: pixels.count, by: 3).map { Array(pixels[$0..<$0 + 3]) }.reversed().flatMap { $0 }
    }

    @Test("10-bit H.264 is transcoded, not copied, because browsers cannot play it")
    func transcodesHigh10() async throws {
        let media = try MediaFactory()
        let out = media.path("out")
        let result = try await convertOnThread(try media.h264High10(seconds: 3), to: out)
        #expect(result.mode == .transcode)
        #expect(try checkLayout(out, rendition: "240p").video?.pixFmt == "yuv420p")
    }

    @Test("a clip of a transcoded input is cut to within 0.5 s of the requested duration")
    func clipsWhileTranscoding() async throws {
        let media = try MediaFactory()
        let out = media.path("out")
        let result = try await convertOnThread(
            try media.vp9Opus(seconds: 16), to: out, clip: ClipRange(start: 3.3, duration: 7)
        )
        #expect(result.mode == .transcode)
        #expect(abs(result.durationSeconds - 7) < 0.5)
        let probe = try checkLayout(out, rendition: "240p")
        #expect(abs((probe.durationSeconds ?? 0) - 7) < 0.5)
    }

    @Test("a clip starting near a keyframe is stream-copied and starts at most 1 s early")
    func clipsWhileRemuxing() async throws {
        let media = try MediaFactory()
        let out = media.path("out")
        let result = try await convertOnThread(
            try media.h264AAC(seconds: 20, gopSeconds: 1), to: out, clip: ClipRange(start: 5.5, duration: 8)
        )
        #expect(result.mode == .remux)
        let probe = try checkLayout(out, rendition: "240p")
        let duration = probe.durationSeconds ?? 0
        #expect(duration >= 8 - 0.1 && duration <= 8 + 1.5)
        #expect(abs(result.durationSeconds - duration) < 0.5)
    }

    @Test("a clip starting far from any keyframe of an H.264 input is transcoded to cut exactly")
    func clipsBetweenKeyframesByTranscoding() async throws {
        let media = try MediaFactory()
        let out = media.path("out")
        let result = try await convertOnThread(
            try media.h264AAC(seconds: 16, gopSeconds: 10), to: out, clip: ClipRange(start: 4, duration: 5)
        )
        #expect(result.mode == .transcode)
        let probe = try checkLayout(out, rendition: "240p")
        #expect(abs((probe.durationSeconds ?? 0) - 5) < 0.5)
    }

    @Test("a clip without a duration runs to the end")
    func clipsToTheEnd() async throws {
        let media = try MediaFactory()
        let out = media.path("out")
        let result = try await convertOnThread(
            try media.h264AAC(seconds: 10, gopSeconds: 1), to: out, clip: ClipRange(start: 4, duration: nil)
        )
        #expect(result.mode == .remux)
        #expect(abs((try checkLayout(out, rendition: "240p").durationSeconds ?? 0) - 6) < 1.5)
    }

    @Test("a clip that starts after the end fails with a message naming the file and its length")
    func clipBeyondEnd() async throws {
        let media = try MediaFactory()
        let input = try media.h264AAC(seconds: 4)
        let error = thrownPipelineError { () throws(PipelineError) in
            _ = try HLSConverter().convert(
                input: input, outputDirectory: media.path("out"), clip: ClipRange(start: 30, duration: 5), control: JobControl()
            )
        }
        guard case .invalidArgument(let message)? = error else {
            Issue.record("expected invalidArgument, got \(String(describing: error))")
            return
        }
        #expect(message.contains(input))
        #expect(message.contains("beyond the end"))
        #expect(!FileManager.default.fileExists(atPath: media.path("out/master.m3u8")))
    }

    @Test("cancelling from another thread mid-conversion stops it before any playlist is written")
    func cancelsMidConversion() async throws {
        let media = try MediaFactory()
        let input = try media.vp9Opus(seconds: 60, width: 640, height: 360)
        let out = media.path("out")
        let control = JobControl()
        let firstProgress = ProgressRecorder()
        control.setProgressHandler { fraction in
            if firstProgress.append(fraction) == 1 {
                // Cancel from a different thread than the converting one.
                Thread.detachNewThread { control.cancel(.other("test stop")) }
            }
        }
        await #expect(throws: PipelineError.cancelled(reason: "test stop")) {
            _ = try await convertOnThread(input, to: out, control: control)
        }
        control.setProgressHandler(nil)
        #expect(firstProgress.values.allSatisfy { $0 < 1 })
        #expect(!FileManager.default.fileExists(atPath: "\(out)/master.m3u8"))
        #expect(!FileManager.default.fileExists(atPath: "\(out)/360p/index.m3u8"))
    }

    @Test("a job cancelled before it starts does not touch the output")
    func cancelledBeforeStart() throws {
        let media = try MediaFactory()
        let control = JobControl()
        control.cancel(.shutdown)
        let input = try media.h264AAC(seconds: 2)
        let error = thrownPipelineError { () throws(PipelineError) in
            _ = try HLSConverter().convert(input: input, outputDirectory: media.path("out"), clip: nil, control: control)
        }
        #expect(error == .cancelled(reason: "daemon shutting down"))
        #expect(!FileManager.default.fileExists(atPath: media.path("out")))
    }
}

/// Progress values seen by a handler, in order.
final class ProgressRecorder: Sendable {
    private let storage = Mutex<[Double]>([])

    /// Appends and returns how many values there are now.
    @discardableResult
    func append(_ value: Double) -> Int { storage.withLock { $0.append(value); return $0.count } }

    var values: [Double] { storage.withLock { $0 } }
}
