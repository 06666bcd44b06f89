import Foundation
import Logging
import Synchronization
import Testing
import TestSupport

@testable import Pipeline

/// `LivePublication` pass by pass, over real directories: a scratch directory laid out as the converter leaves it,
/// published through the local target into an output directory.
@Suite("Live publication")
struct LivePublicationTests {
    final class Events: Sendable {
        let seen = Mutex<[LivePublication.Event]>([])
        func record(_ e: LivePublication.Event) { seen.withLock { $0.append(e) } }
        var playable: [String] { seen.withLock { $0.compactMap { if case .playable(let u) = $0 { u } else { nil } } } }
    }

    struct Rig {
        let root: TempDir
        let scratch: String
        let output: String
        let events = Events()
        let live: LivePublication

        init() throws {
            root = try TempDir("live-publication")
            let dir = root.path
            scratch = dir + "/hls"
            output = dir + "/output"
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            let target = try LocalPublisher(outputRoot: output, publicBaseURL: "http://example.test").liveTarget(videoID: "v")
            let events = self.events
            live = LivePublication(directory: scratch, target: target, logger: Logger(label: "test")) { events.record($0) }
        }

        func write(_ text: String, _ relative: String, in root: String? = nil) throws {
            let path = "\(root ?? scratch)/\(relative)"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }

        func playlist(_ segments: Int, ended: Bool = false, from first: Int = 0) -> String {
            var text = "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:\(ended ? "VOD" : "EVENT")\n"
            for n in first..<(first + segments) { text += "#EXTINF:1.0,\n" + String(format: "seg_%05d.ts", n) + "\n" }
            return text + (ended ? "#EXT-X-ENDLIST\n" : "")
        }

        /// Scratch segments 0..<count (content "run-N") and the playlist listing them.
        func converted(_ rendition: String, segments count: Int, ended: Bool = false) throws {
            for n in 0..<count { try write("run-\(n)", "\(rendition)/" + String(format: "seg_%05d.ts", n)) }
            try write(playlist(count, ended: ended), "\(rendition)/index.m3u8")
        }

        func published(_ relative: String) -> String? { try? String(contentsOfFile: "\(output)/videos/v/\(relative)", encoding: .utf8) }
    }

    static let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nhi/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=500\nlo/index.m3u8\n"

    @Test func theMasterWaitsForASegmentOfEveryRenditionAndSegmentsPrecedeTheirPlaylist() throws {
        let rig = try Rig()
        defer { rig.root.remove() }
        let control = JobControl()
        try rig.write(Self.master, "master.m3u8")
        try rig.converted("hi", segments: 1)
        try rig.live.pass(final: false, control: control)
        #expect(rig.published("hi/index.m3u8") == rig.playlist(1))
        #expect(rig.published("hi/seg_00000.ts") == "run-0")
        #expect(rig.published("master.m3u8") == nil, "lo has no segment yet")
        #expect(rig.events.playable.isEmpty)

        try rig.converted("lo", segments: 1)
        try rig.live.pass(final: false, control: control)
        #expect(rig.published("master.m3u8") == Self.master)
        #expect(rig.events.playable == ["http://example.test/videos/v/master.m3u8"])

        try rig.converted("hi", segments: 3, ended: true)
        try rig.converted("lo", segments: 3, ended: true)
        try rig.live.pass(final: true, control: control)
        #expect(rig.published("hi/index.m3u8") == rig.playlist(3, ended: true))
        #expect(rig.published("lo/seg_00002.ts") == "run-2")
        #expect(rig.events.playable.count == 1, "playable is announced once")
    }

    /// A re-run after a crash: the published playlist (4 segments) never shrinks while the new attempt catches up;
    /// segments are overwritten under the same names, and the playlist moves on once the new one lists more.
    @Test func aReRunNeverPublishesAShorterPlaylist() throws {
        let rig = try Rig()
        defer { rig.root.remove() }
        let control = JobControl()
        let single = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nhi/index.m3u8\n"
        try rig.write(single, "videos/v/master.m3u8", in: rig.output)
        try rig.write(rig.playlist(4), "videos/v/hi/index.m3u8", in: rig.output)
        for n in 0..<4 { try rig.write("old-\(n)", "videos/v/hi/" + String(format: "seg_%05d.ts", n), in: rig.output) }

        try rig.write(single, "master.m3u8")
        try rig.converted("hi", segments: 2)
        try rig.live.pass(final: false, control: control)
        #expect(rig.published("hi/index.m3u8") == rig.playlist(4), "the published playlist stays as long as it was")
        #expect(rig.published("hi/seg_00001.ts") == "run-1", "segments of the same number are overwritten")
        #expect(rig.published("hi/seg_00003.ts") == "old-3")

        try rig.converted("hi", segments: 4)
        try rig.live.pass(final: false, control: control)
        #expect(rig.published("hi/index.m3u8") == rig.playlist(4))
        #expect(rig.published("hi/seg_00003.ts") == "run-3")

        try rig.converted("hi", segments: 5)
        try rig.live.pass(final: false, control: control)
        #expect(rig.published("hi/index.m3u8") == rig.playlist(5), "past the published length it moves on")

        try rig.converted("hi", segments: 6, ended: true)
        try rig.live.pass(final: true, control: control)
        #expect(rig.published("hi/index.m3u8") == rig.playlist(6, ended: true))
    }

    @Test func anFMP4RenditionPublishesItsInitSegmentWithItsFirstSegment() throws {
        let rig = try Rig()
        try rig.write("init", "hi/init.mp4")
        try rig.write("seg-0", "hi/seg_00000.m4s")
        try rig.write("#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:1.0,\nseg_00000.m4s\n", "hi/index.m3u8")
        try rig.write("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nhi/index.m3u8\n", "master.m3u8")
        try rig.live.pass(final: false, control: JobControl())
        #expect(rig.published("hi/init.mp4") == "init")
        #expect(rig.published("hi/seg_00000.m4s") == "seg-0")
        #expect(rig.published("master.m3u8") != nil)
        #expect(LivePublication.uris("#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"800@0\"\n#EXTINF:1,\na.m4s\n") == ["init.mp4", "a.m4s"])
    }

    @Test func theFinalPassNeedsAMaster() throws {
        let rig = try Rig()
        defer { rig.root.remove() }
        try rig.converted("hi", segments: 1, ended: true)
        #expect(throws: PipelineError.self) { try rig.live.pass(final: true, control: JobControl()) }
    }
}
