import Foundation
import Pipeline
import Testing
import TestSupport

/// The bitrate ladder, checked with independent readers: ffprobe/ffmpeg for the media, PyPI `m3u8` for the master.
@Suite("HLS bitrate ladder")
struct MediaLadderTests {
    /// 1 s segments keep the sources short (2 s) while still giving every rung two segments.
    func options(copyTop: Bool = true, format: SegmentFormat = .ts) -> HLSOptions {
        var o = HLSOptions()
        o.segmentSeconds = 1
        o.ladderCopyTop = copyTop
        o.segmentFormat = format
        o.x264Preset = "ultrafast"
        return o
    }

    /// The master as the `m3u8` package parses it: one dict per variant.
    func parsedMaster(_ out: String) throws -> [[String: String]] {
        let script = """
        import json, sys, m3u8
        p = m3u8.load(sys.argv[1])
        assert p.is_variant, "not a master playlist"
        out = []
        for v in p.playlists:
            s = v.stream_info
            out.append({"uri": v.uri, "bandwidth": str(s.bandwidth), "average": str(s.average_bandwidth),
                        "resolution": "%dx%d" % s.resolution, "codecs": s.codecs, "fps": str(s.frame_rate)})
        print(json.dumps(out))
        """
        let output = try ExternalTool.check("python3", ["-c", script, "\(out)/master.m3u8"])
        return try JSONDecoder().decode([[String: String]].self, from: output.stdout)
    }

    /// Checks what every ladder must hold: a VOD playlist per rung whose segments all start with a key frame at
    /// the same times as every other rung's, the same audio packets in every rung, a master the parser accepts.
    func checkLadder(_ out: String, result: HLSResult, format: SegmentFormat = .ts) throws -> [[String: String]] {
        let master = try parsedMaster(out)
        #expect(master.map { $0["uri"] } == result.renditions.map { "\($0.name)/index.m3u8" })
        var keyframes: [[Double]] = []
        var audio: [String] = []
        for (variant, rendition) in zip(master, result.renditions) {
            let dir = "\(out)/\(rendition.name)"
            let index = try String(contentsOfFile: "\(dir)/index.m3u8", encoding: .utf8)
            #expect(index.contains("#EXT-X-PLAYLIST-TYPE:VOD") && index.contains("#EXT-X-ENDLIST"))
            #expect(!FileManager.default.fileExists(atPath: "\(out)/master.m3u8.tmp"))
            #expect(try FFprobe.decodeErrors(path: "\(dir)/index.m3u8") == "")
            let bandwidth = Int(variant["bandwidth"] ?? "") ?? 0, average = Int(variant["average"] ?? "") ?? 0
            #expect(bandwidth >= average && average > 0, "\(rendition.name): BANDWIDTH \(bandwidth), AVERAGE \(average)")
            #expect(variant["resolution"] == "\(rendition.width)x\(rendition.height)")
            #expect(variant["codecs"]?.hasPrefix("avc1.") == true && variant["codecs"]?.hasSuffix(",mp4a.40.2") == true)
            #expect(variant["fps"] == "25.0")
            let probe = try FFprobe(path: "\(dir)/index.m3u8")
            #expect(probe.video?.height == rendition.height && probe.video?.width == rendition.width)
            // Every segment starts with a key frame: the segment starts are a subset of the key frames.
            let times = try FFprobe.keyframeTimes(path: "\(dir)/index.m3u8")
            let starts = try FFprobe.segmentDurations(playlist: "\(dir)/index.m3u8").reduce(into: [0.0]) { $0.append($0.last! + $1) }.dropLast()
            let first = times.first ?? 0
            for start in starts { #expect(times.contains { abs($0 - first - start) < 0.02 }, "\(rendition.name): no key frame at \(start)") }
            keyframes.append(times)
            audio.append(try audioPacketHashes(dir: dir))
            if format == .fmp4 {
                #expect(FileManager.default.fileExists(atPath: "\(dir)/init.mp4"))
                #expect(index.contains("#EXT-X-MAP:URI=\"init.mp4\""))
            }
        }
        // Aligned: the same key frame times in every rung.
        #expect(keyframes.allSatisfy { $0 == keyframes[0] }, "key frames per rung: \(keyframes)")
        #expect(Set(audio).count == 1, "every rung carries the same audio packets")
        return master
    }

    /// One hash per audio packet (ffmpeg's framemd5 of a stream copy), joined.
    func audioPacketHashes(dir: String) throws -> String {
        let output = try ExternalTool.check("ffmpeg", ["-nostdin", "-v", "error", "-i", "\(dir)/index.m3u8",
                                                       "-map", "0:a", "-c", "copy", "-f", "framemd5", "-"])
        return String(decoding: output.stdout, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.split(separator: ",").last.map(String.init) ?? "" }.joined(separator: " ")
    }

    /// codec, profile, size, level and packet count of the first video stream, as ffprobe counts them.
    func videoStreamFacts(_ path: String) throws -> String {
        let output = try ExternalTool.check("ffprobe", ["-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
                                                        "stream=codec_name,profile,level,width,height,nb_read_packets", "-of", "csv=p=0", path])
        let first = String(decoding: output.stdout, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return first
    }

    @Test("a 1080p source gets all four rungs, key frames aligned, one audio encode, a master the m3u8 parser accepts")
    func fullLadder() async throws {
        let media = try MediaFactory()
        let input = try media.h264AAC(seconds: 2, width: 1920, height: 1080, gopSeconds: 1)
        let out = media.path("out")
        let result = try await convertOnThread(input, to: out, options: options(copyTop: false))
        #expect(result.mode == .transcode)
        #expect(result.renditions.map(\.name) == ["1080p", "720p", "480p", "360p"])
        #expect(result.renditions.map(\.width) == [1920, 1280, 854, 640])
        #expect(result.rendition == "1080p")
        #expect(abs(result.durationSeconds - 2) < 0.1)
        let master = try checkLadder(out, result: result)
        let bandwidths = master.compactMap { Int($0["bandwidth"] ?? "") }
        #expect(bandwidths == bandwidths.sorted(by: >))
        #expect(try FFprobe(path: "\(out)/1080p/index.m3u8").audio?.sampleRate == "48000")
    }

    @Test("a 480p source is never upscaled: only the 480p and 360p rungs")
    func neverUpscales() async throws {
        let media = try MediaFactory()
        let input = try media.vp9Opus(seconds: 2, width: 854, height: 480)
        let out = media.path("out")
        let result = try await convertOnThread(input, to: out, options: options())
        #expect(result.mode == .transcode)
        #expect(result.renditions.map(\.name) == ["480p", "360p"])
        #expect(mediaDirectoryListing(out) == ["360p", "480p", "master.m3u8"])
        _ = try checkLadder(out, result: result)
    }

    @Test("H.264/AAC keeps the source as the top rung by stream copy; the rungs below are encoded at its key frames")
    func copiesTheTopRung() async throws {
        let media = try MediaFactory()
        let input = try media.h264AAC(seconds: 2, width: 1280, height: 720, gopSeconds: 1)
        let out = media.path("out")
        let result = try await convertOnThread(input, to: out, options: options())
        #expect(result.mode == .remux)
        #expect(result.renditions.map(\.name) == ["720p", "480p", "360p"])
        #expect(result.renditions.map(\.copied) == [true, false, false])
        _ = try checkLadder(out, result: result)
        // The copy: the source's codec parameters and every one of its frames, untouched; the rungs below have as many frames.
        let source = try videoStreamFacts(input)
        #expect(try videoStreamFacts("\(out)/720p/index.m3u8") == source)
        #expect(source.hasPrefix("h264,Constrained Baseline,1280,720,31,50"))
        let lower = try videoStreamFacts("\(out)/480p/index.m3u8")
        #expect(lower.hasPrefix("h264,") && lower.contains(",854,480,") && lower.hasSuffix(",50"), "\(lower)")
        // The audio is the source's AAC, copied into every rung: not re-encoded.
        #expect(try FFprobe(path: "\(out)/480p/index.m3u8").audio?.sampleRate == "44100")
    }

    @Test("fMP4 segments: init.mp4 per rung, EXT-X-MAP, and ffmpeg plays the master")
    func fragmentedMP4() async throws {
        let media = try MediaFactory()
        let input = try media.vp9Opus(seconds: 2, width: 640, height: 360)
        let out = media.path("out")
        var o = options(format: .fmp4)
        o.ladder = [LadderRung(height: 360, videoBitRate: 800_000, maxRate: 1_200_000),
                    LadderRung(height: 240, videoBitRate: 400_000, maxRate: 600_000)]
        let result = try await convertOnThread(input, to: out, options: o)
        #expect(result.renditions.map(\.name) == ["360p", "240p"])
        _ = try checkLadder(out, result: result, format: .fmp4)
        #expect(mediaDirectoryListing("\(out)/240p").contains("seg_00000.m4s"))
        #expect(try FFprobe.decodeErrors(path: "\(out)/master.m3u8") == "")
    }

    @Test("while converting, each rung's playlist is EVENT and the master appears once every rung has a segment")
    func watchableWhileConverting() async throws {
        let media = try MediaFactory()
        let input = try media.vp9Opus(seconds: 6, width: 640, height: 360)
        let out = media.path("out")
        var o = options()
        o.ladder = [LadderRung(height: 360, videoBitRate: 800_000, maxRate: 1_200_000),
                    LadderRung(height: 180, videoBitRate: 200_000, maxRate: 300_000)]
        let control = JobControl()
        let seen = ProgressRecorder()
        let midway = MidwayLook()
        // The handler runs on the converting thread, so the files are looked at mid-conversion.
        control.setProgressHandler { fraction in
            seen.append(fraction)
            if fraction < 1 { midway.look(out) }
        }
        let result = try await convertOnThread(input, to: out, options: o, control: control)
        #expect(result.renditions.count == 2)
        let snapshot = try #require(midway.snapshot)
        #expect(snapshot.master.contains("360p/index.m3u8") && snapshot.master.contains("180p/index.m3u8"))
        #expect(snapshot.playlists.allSatisfy { $0.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && !$0.contains("#EXT-X-ENDLIST") })
        _ = try checkLadder(out, result: result)
    }
}

/// The first look at the output taken after the master appeared, mid-conversion.
final class MidwayLook: @unchecked Sendable {
    struct Snapshot {
        var master: String
        var playlists: [String]
    }

    private let lock = NSLock()
    private var taken: Snapshot?

    var snapshot: Snapshot? { lock.withLock { taken } }

    func look(_ out: String) {
        lock.withLock {
            guard taken == nil, let master = try? String(contentsOfFile: "\(out)/master.m3u8", encoding: .utf8) else { return }
            let playlists = ["360p", "180p"].compactMap { try? String(contentsOfFile: "\(out)/\($0)/index.m3u8", encoding: .utf8) }
            taken = Snapshot(master: master, playlists: playlists)
        }
    }
}

extension MediaLadderTests {
    @Test("rung encoder threads carry the conversion's ixcpu tag and niceness, so its CPU and convert_nice cover them")
    func rungThreadsAreCountedAndNiced() async throws {
        let media = try MediaFactory()
        let input = try media.vp9Opus(seconds: 3, width: 640, height: 360)
        let out = media.path("out")
        var o = options()
        o.ladder = [LadderRung(height: 360, videoBitRate: 800_000, maxRate: 1_200_000),
                    LadderRung(height: 240, videoBitRate: 400_000, maxRate: 600_000)]
        let control = JobControl()
        let threads = TaggedThreads()
        control.setProgressHandler { fraction in if fraction < 1 { threads.look() } }
        let converter = HLSConverter(options: o)
        let (result, cpu) = try await ThreadCPU.run(name: "test-ladder", priority: ThreadPriority(nice: 7)) {
            try converter.convert(input: input, outputDirectory: out, clip: nil, control: control)
        }
        #expect(result.renditions.count == 2)
        #expect(cpu > 0)
        let seen = try #require(threads.seen)
        // The decoding thread, two rung threads, and libx264's workers started from them.
        #expect(seen.count >= 3, "\(seen)")
        #expect(seen.allSatisfy { $0.nice == 7 }, "\(seen)")
    }
}

/// The threads of this process named like the calling thread (its `ixcpu-…` tag) and their niceness, looked at
/// from the converting thread.
final class TaggedThreads: @unchecked Sendable {
    private let lock = NSLock()
    private var taken: [(tid: String, nice: Int)]?

    var seen: [(tid: String, nice: Int)]? { lock.withLock { taken } }

    func look() {
        lock.withLock {
            guard taken == nil,
                  let mine = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8),
                  mine.hasPrefix("ixcpu-") else { return }
            var found: [(String, Int)] = []
            for tid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? [] {
                guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8), comm == mine,
                      let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { continue }
                // Fields after the name: state is field 3, nice is field 19 (proc(5)).
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 16, let nice = Int(fields[16]) { found.append((tid, nice)) }
            }
            taken = found
        }
    }
}
