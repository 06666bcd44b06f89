import Foundation
import Synchronization
import TestSupport
import Testing

/// A video is watchable while it converts: segments, an EVENT playlist and the master are published as the
/// conversion goes, `preview_url` says where, and the finished video is the same URL as a VOD playlist.
///
/// The conversions are slowed with the test-only `INBOXD_TEST_CONVERT_DELAY_MS` (a pause before each segment's
/// keyframe) so the processing state lasts long enough to look at, on a loaded machine or an idle one.
@Suite(.serialized) struct LivePublishingTests {
    private func daemon(delayMS: Int, environment: [String: String] = [:], extraTOML: String = "") throws -> DaemonHarness {
        var options = DaemonHarness.Options()
        options.workers = 1
        options.environment = environment.merging(["INBOXD_TEST_CONVERT_DELAY_MS": "\(delayMS)"]) { a, _ in a }
        options.extraTOML = "segment_seconds = 1\n" + extraTOML
        return try DaemonHarness(options)
    }

    /// `first_segment_seconds` (default 2): the preview needs only the first segment of every rung, so it is short.
    @Test(arguments: [("", [2.0, 6, 2]), ("first_segment_seconds = 0", [6.0, 4])])
    func theFirstSegmentIsShortSoThePreviewComesSooner(_ toml: String, _ expected: [Double]) throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 10)
        var options = DaemonHarness.Options()
        options.workers = 1
        options.extraTOML = toml
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "first.webm", sidecar: ["title": "First"])
        let done = try d.waitFor(try d.videoID(title: "First"))
        #expect(done["status"] as? String == "ready", "\(done)")
        let text = try Playlist(url: try Playlist.variant(of: try #require(done["video_url"] as? String))).text
        let durations = text.split(separator: "\n").filter { $0.hasPrefix("#EXTINF:") }
            .compactMap { Double($0.dropFirst(8).prefix { $0 != "," }) }
        #expect(durations.count == expected.count && zip(durations, expected).allSatisfy { abs($0 - $1) < 0.1 }, "\(text)")
        _ = try Check.playable(done, sourcePath: src)
    }

    @Test func aTranscodeIsWatchableWhileItConvertsAndEndsAsVOD() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 12)
        let d = try daemon(delayMS: 600)
        defer { d.cleanUp() }
        try d.start()
        let id = "3d8a1f0e-7c2b-4e5d-9f60-1a2b3c4d5e6f"
        try d.drop(media: src, as: "live.webm", sidecar: ["title": "Live", "video_id": id])

        let preview = try eventually(timeout: 60, "a preview while processing") { () -> [String: Any]? in
            // Not claimed yet: 404 until the watcher has taken the drop.
            guard let j = try d.status(id).json, j["status"] != nil else { return nil }
            if j["status"] as? String != "processing" { throw LiveFailure("no preview while processing: \(j)") }
            return j["preview_url"] is String ? j : nil
        }
        #expect(preview["video_url"] as? String == "processing", "video_url keeps the seed's meaning: \(preview)")
        #expect((preview["playable_at"] as? String)?.hasSuffix("Z") == true, "\(preview)")
        let master = try #require(preview["preview_url"] as? String)
        #expect(master == "\(d.baseURL)/videos/\(id)/master.m3u8")
        let rendition = try Playlist.variant(of: master)
        let live = try Playlist(url: rendition)
        #expect(live.type == "EVENT" && !live.ended, "\(live.text)")
        #expect(!live.segments.isEmpty)
        for segment in live.segments { #expect(try Playlist.fetchable(segment), "\(segment) is listed but not served") }
        let probe = try FFprobe(path: master)
        #expect(probe.video?.codecName == "h264")
        let poster = try HTTPClient.get("\(d.baseURL)/videos/\(id)/thumbnail.jpg")
        #expect(poster.status == 200, "the poster is published before the conversion")
        let stream = try Shell.run("curl", ["-sN", "--max-time", "1", "\(d.baseURL)/api/videos/\(id)/stream"])
        #expect(stream.stdout.contains("\"preview_url\":\"\(master.replacingOccurrences(of: "/", with: "\\/"))\"")
                || stream.stdout.contains("\"preview_url\":\"\(master)\""), "the SSE status carries the preview: \(stream.stdout)")
        let still = try #require(try d.status(id).json)
        #expect(still["status"] as? String == "processing", "the preview was checked while the job still ran: \(still)")

        let done = try d.waitFor(id)
        #expect(done["status"] as? String == "ready", "\(done)")
        #expect(done["video_url"] as? String == master)
        #expect(done["preview_url"] as? String == master, "preview_url is kept when ready")
        #expect(done["playable_at"] as? String == preview["playable_at"] as? String)
        let final = try Playlist(url: rendition)
        #expect(final.type == "VOD" && final.ended, "\(final.text)")
        #expect(final.segmentNames == (0..<final.segments.count).map { String(format: "seg_%05d.ts", $0) })
        #expect(final.segments.count >= live.segments.count)
        for segment in final.segments { #expect(try Playlist.fetchable(segment), "\(segment) is listed but not served") }
        _ = try Check.playable(done, sourcePath: src)

        let row = try #require(HTTPClient.get("\(d.baseURL)/api/videos/\(id)").json)
        #expect(row["preview_url"] as? String == master)
        #expect(row["playable_at"] as? String == done["playable_at"] as? String)
        let events = try HTTPClient.get("\(d.baseURL)/api/videos/\(id)/events").body
        #expect(events.contains("playable: \(master)"), "an audit entry says when it became playable")
        #expect(d.logText().contains("playable while converting"))
        Check.inboxIsClean(d)
    }

    @Test func aRemuxIsWatchableWhileItConvertsToo() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 10, gopSeconds: 1)
        let d = try daemon(delayMS: 500)
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "remux.mp4", sidecar: ["title": "remux"])
        let id = try d.videoID(title: "remux")
        let seen = try eventually(timeout: 60, "a preview while processing") { () -> (String, Playlist)? in
            // Not claimed yet: 404 until the watcher has taken the drop.
            guard let j = try d.status(id).json, j["status"] != nil else { return nil }
            if j["status"] as? String != "processing" { throw LiveFailure("no preview while processing: \(j)") }
            guard let master = j["preview_url"] as? String else { return nil }
            return (master, try Playlist(url: try Playlist.variant(of: master)))
        }
        #expect(seen.1.type == "EVENT" && !seen.1.ended)
        let done = try d.waitFor(id)
        #expect(done["status"] as? String == "ready", "\(done)")
        #expect(d.logText().contains("hls.mode=remux"))
        let final = try Playlist(url: try Playlist.variant(of: seen.0))
        #expect(final.type == "VOD" && final.ended)
        _ = try Check.playable(done, sourcePath: src)
    }

    /// kill -9 mid-conversion after 3 segments were published: the published playlist stays consistent (every
    /// listed segment is there), a poller never sees it shrink, and the re-run finishes it with each segment once.
    @Test func aCrashMidConversionLeavesAConsistentPlaylistThatTheRerunFinishes() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 10)
        let d = try daemon(delayMS: 250, environment: ["INBOXD_TEST_CRASH_AFTER_SEGMENTS": "3"])
        defer { d.cleanUp() }
        try d.start()
        let id = "9b2e4c6a-1d3f-4a5b-8c7d-6e5f4a3b2c1d"
        try d.drop(media: src, as: "crash.webm", sidecar: ["title": "crash", "video_id": id])

        let poller = PlaylistPoller(directory: "\(d.output)/videos/\(id)")
        poller.start()
        defer { poller.stop() }
        #expect(spin(timeout: 60, every: 50_000) { d.hasExited }, "the test hook did not crash the daemon")
        let crashed = try #require(poller.currentPlaylist(), "nothing was published before the crash")
        #expect(crashed.segments.count >= 3 && !crashed.ended, "\(crashed.text)")
        for name in crashed.segmentNames {
            #expect(FileManager.default.fileExists(atPath: "\(poller.renditionDirectory!)/\(name)"), "\(name) listed, missing")
        }

        try d.start()
        let done = try d.waitFor(id)
        #expect(done["status"] as? String == "ready", "\(done)")
        #expect(done["attempts"] as? Int == 2, "\(done)")
        poller.stop()
        let final = try Playlist(url: try Playlist.variant(of: done["video_url"] as! String))
        #expect(final.type == "VOD" && final.ended, "\(final.text)")
        #expect(final.segmentNames == (0..<final.segments.count).map { String(format: "seg_%05d.ts", $0) })
        #expect(Set(final.segmentNames).count == final.segments.count, "no segment twice")
        for segment in final.segments { #expect(try Playlist.fetchable(segment)) }
        #expect(poller.counts.count >= 2, "the poller saw the playlist change")
        #expect(poller.counts == poller.counts.sorted(), "the published playlist went backwards: \(poller.counts)")
        #expect(d.logText().contains("an earlier attempt published part of this rendition"))
        _ = try Check.playable(done, sourcePath: src)
    }

    /// With S3 the playlist object is re-put while the job runs, with a short Cache-Control, then as VOD.
    @Test func s3PlaylistsAreRePutWithShortCacheLifetimesWhileProcessing() throws {
        let s3 = try SeaweedFS()
        defer { s3.stop() }
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 10)
        let d = try daemon(delayMS: 600, extraTOML: s3TOML(s3, prefix: "live"))
        defer { d.cleanUp() }
        try d.start()
        let id = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
        try d.drop(media: src, as: "s3.webm", sidecar: ["title": "s3 live", "video_id": id])
        let base = "\(s3.endpoint)/\(s3.bucket)/live/videos/\(id)"
        let master = try eventually(timeout: 60, "a preview while processing") { () -> String? in
            // Not claimed yet: 404 until the watcher has taken the drop.
            guard let j = try d.status(id).json, j["status"] != nil else { return nil }
            if j["status"] as? String != "processing" { throw LiveFailure("no preview while processing: \(j)") }
            return j["preview_url"] as? String
        }
        #expect(master == "\(base)/master.m3u8")
        let rendition = try Playlist.variant(of: master)
        let live = try Playlist(url: rendition)
        #expect(live.type == "EVENT" && !live.ended, "\(live.text)")
        #expect(try Playlist.cacheControl(rendition) == "public, max-age=1")
        #expect(try Playlist.cacheControl(master) == "public, max-age=1")
        #expect(try Playlist.cacheControl(live.segments[0]) == "public, max-age=31536000, immutable")
        #expect(try FFprobe(path: master).video?.codecName == "h264")
        #expect(try d.status(id).json?["status"] as? String == "processing")

        let done = try d.waitFor(id)
        #expect(done["status"] as? String == "ready", "\(done)")
        let final = try Playlist(url: rendition)
        #expect(final.type == "VOD" && final.ended)
        #expect(final.segments.count > live.segments.count, "the playlist object was re-put as segments landed")
        #expect(try Playlist.cacheControl(rendition) == "public, max-age=5")
        #expect(try Playlist.cacheControl(master) == "public, max-age=5")
        #expect(d.logText().contains("S3 upload finished"))
        _ = try Check.playable(done, sourcePath: src)
    }
}

struct LiveFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A media playlist as a player reads it.
struct Playlist: Sendable {
    let url: String
    let text: String

    init(url: String) throws {
        let r = try HTTPClient.get(url)
        guard r.status == 200 else { throw LiveFailure("GET \(url): \(r.status)") }
        self.url = url
        text = r.body
    }

    init(url: String, text: String) {
        self.url = url
        self.text = text
    }

    var type: String? {
        text.split(separator: "\n").first { $0.hasPrefix("#EXT-X-PLAYLIST-TYPE:") }.map { String($0.dropFirst(21)) }
    }
    var ended: Bool { text.contains("#EXT-X-ENDLIST") }
    var segmentNames: [String] { text.split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") } }
    var segments: [String] {
        let base = url.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return segmentNames.map { "\(base)/\($0)" }
    }

    /// The first variant's playlist URL of a master.
    static func variant(of master: String) throws -> String {
        let m = Playlist(url: master, text: try Playlist(url: master).text)
        guard let first = m.segments.first else { throw LiveFailure("no variant in \(m.text)") }
        return first
    }

    static func fetchable(_ url: String) throws -> Bool {
        try Shell.run("curl", ["-sf", "-o", "/dev/null", url]).status == 0
    }

    static func cacheControl(_ url: String) throws -> String? {
        let head = try Shell.run("curl", ["-sI", url])
        let value = head.stdout.split(whereSeparator: \.isNewline).first { $0.lowercased().hasPrefix("cache-control:") }
            .map { $0.dropFirst("cache-control:".count).trimmingCharacters(in: .whitespacesAndNewlines) }
        if value == nil { print("[live] HEAD \(url): \(head.status) \(head.stdout) \(head.stderr)") }
        return value
    }
}

/// Reads the published rendition playlist from the output directory every 20 ms, as a player would over HTTP, and
/// records each distinct segment count it saw.
final class PlaylistPoller: Sendable {
    private let directory: String
    private let state = Mutex<(running: Bool, counts: [Int], last: Playlist?, rendition: String?)>((false, [], nil, nil))
    private let done = DispatchSemaphore(value: 0)

    init(directory: String) { self.directory = directory }

    var counts: [Int] { state.withLock { $0.counts } }
    var renditionDirectory: String? { state.withLock { $0.rendition } }
    func currentPlaylist() -> Playlist? { state.withLock { $0.last } }

    func start() {
        state.withLock { $0.running = true }
        let thread = Thread { [self] in
            while state.withLock({ $0.running }) {
                poll()
                usleep(20_000)
            }
            done.signal()
        }
        thread.start()
    }

    func stop() {
        let wasRunning = state.withLock { s in
            defer { s.running = false }
            return s.running
        }
        if wasRunning { done.wait() }
    }

    private func poll() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        guard let rendition = names.first(where: { !$0.hasPrefix(".") && $0 != "master.m3u8" && $0 != "thumbnail.jpg" }) else { return }
        let dir = "\(directory)/\(rendition)"
        guard let text = try? String(contentsOfFile: "\(dir)/index.m3u8", encoding: .utf8) else { return }
        let playlist = Playlist(url: "file://\(dir)/index.m3u8", text: text)
        state.withLock { s in
            s.rendition = dir
            s.last = playlist
            if s.counts.last != playlist.segmentNames.count { s.counts.append(playlist.segmentNames.count) }
        }
    }
}
