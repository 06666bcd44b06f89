import Foundation
import TestSupport
import Testing

/// The watch page in a real browser: headless Chromium (Debian's `chromium`) loads `/videos/{id}` from the daemon
/// and is asked, over the DevTools protocol, what its Video.js player is doing (`window.watchState`, see README
/// "Watch page"). Screenshots go to `.build/test-output/PlaybackTests/` (or `$INBOXD_TEST_OUTPUT`).
@Suite(.serialized) struct PlaybackTests {
    private func screenshot(_ browser: HeadlessChromium, _ name: String) throws {
        let path = TestOutput.path("PlaybackTests/\(name).png")
        try browser.screenshot(to: path)
        print("PlaybackTests: screenshot \(path)")
        let png = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "\(path) is not a real PNG screenshot")
    }

    /// The player's state as one JSON object.
    private static let snapshot = """
        JSON.stringify({t: watchState.currentTime(), error: watchState.error(), errors: watchState.errors, \
        events: watchState.events, csp: watchState.cspViolations, vhs: watchState.vhs() !== null, \
        resolution: watchState.resolution(), sources: watchState.sources, status: watchState.status, \
        h1: document.querySelector('h1').textContent, injected: document.querySelectorAll('main img').length, \
        pwned: window.pwned === 1})
        """

    private func state(_ browser: HeadlessChromium) throws -> [String: Any] {
        let text = try #require(try browser.evaluate(Self.snapshot) as? String)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// Waits for `expression`; on a timeout, fails with `what` and the player's state.
    private func wait(_ browser: HeadlessChromium, for expression: String, seconds: Double, _ what: String) throws {
        do {
            try browser.wait(for: expression, seconds: seconds)
        } catch {
            Issue.record("\(what): \(error)\n\(try state(browser))")
            throw error
        }
    }

    /// Plays past 3 s with no error, no CSP violation and the title as text; returns the state then.
    @discardableResult
    private func expectPlays(_ browser: HeadlessChromium, engine: String) throws -> [String: Any] {
        try wait(browser, for: "watchState.currentTime() > 3 || watchState.errors.length > 0", seconds: 25,
                 "\(engine): the player never reached 3 s")
        let s = try state(browser)
        #expect((s["t"] as? Double ?? 0) > 3, "\(engine): \(s)")
        #expect(s["error"] is NSNull && (s["errors"] as? [Any])?.isEmpty == true, "\(engine): \(s)")
        #expect((s["events"] as? [String])?.contains("playing") == true, "\(engine): \(s)")
        #expect((s["csp"] as? [Any])?.isEmpty == true, "\(engine): Content-Security-Policy violations: \(s)")
        #expect(s["vhs"] as? Bool == (engine == "vhs"), "\(engine): engine in use: \(s)")
        #expect(s["h1"] as? String == PlaybackRig.title && s["injected"] as? Int == 0 && s["pwned"] as? Bool == false,
                "the title must arrive as text: \(s)")
        return s
    }

    /// The first page is opened while the video still waits in the queue: the status line follows the SSE stream,
    /// and once the job is ready the page loads the final master and plays it.
    @Test func theWatchPagePlaysWithChromiumsNativeHLSAndWithVHS() throws {
        let browser = try HeadlessChromium()
        defer { browser.stop() }
        let rig = try PlaybackRig { d, id in
            try browser.navigate("\(d.baseURL)/videos/\(id)")
            let line = try browser.evaluate("document.getElementById('status').textContent") as? String
            #expect(line?.hasPrefix("Processing: ") == true, "\(line ?? "nil")")
            #expect(try browser.evaluate("watchState.sources.length") as? Int == 0)
        }
        defer { rig.d.cleanUp() }
        try wait(browser, for: "watchState.status === 'ready' && document.getElementById('status').textContent === 'Ready'",
                 seconds: 10, "the page did not follow the job to ready")
        let master = rig.status["video_url"] as? String ?? "?"
        let native = try expectPlays(browser, engine: "native")
        #expect(native["sources"] as? [String] == [master], "\(native)")
        try screenshot(browser, "watch-native")
        try browser.navigate(rig.page + "?engine=vhs")
        let vhs = try expectPlays(browser, engine: "vhs")
        #expect(vhs["sources"] as? [String] == [master], "\(vhs)")
        try screenshot(browser, "watch-vhs")
        // CI runs as root (hence --no-sandbox); a developer's machine as a user: the same browser plays there too.
        if geteuid() == 0 {
            let unprivileged = try HeadlessChromium(user: "nobody")
            defer { unprivileged.stop() }
            try unprivileged.navigate(rig.page)
            try expectPlays(unprivileged, engine: "native")
        }
    }

    /// With S3 publishing the page only uses the row's URLs: the media comes from the bucket's origin, which the
    /// page's Content-Security-Policy names (native HLS loads media without CORS; VHS needs the bucket's CORS).
    @Test func theWatchPagePlaysMediaPublishedToS3() throws {
        let s3 = try SeaweedFS()
        defer { s3.stop() }
        var options = DaemonHarness.Options()
        options.extraTOML = """
            [s3]
            endpoint = "\(s3.endpoint)"
            region = "\(s3.region)"
            bucket = "\(s3.bucket)"
            access_key_id = "\(s3.accessKey)"
            secret_access_key = "\(s3.secretKey)"
            """
        let rig = try PlaybackRig(options: options)
        defer { rig.d.cleanUp() }
        let master = try #require(rig.status["video_url"] as? String)
        #expect(master.hasPrefix(s3.endpoint + "/"), "\(master)")
        let browser = try HeadlessChromium()
        defer { browser.stop() }
        try browser.navigate(rig.page)
        let s = try expectPlays(browser, engine: "native")
        #expect(s["sources"] as? [String] == [master], "\(s)")
        try screenshot(browser, "watch-s3")
    }

    /// Needs the ABR ladder (at least two rungs in the master).
    @Test func vhsSwitchesRungWhenTold() throws {
        let rig = try PlaybackRig()
        defer { rig.d.cleanUp() }
        let variants = try rig.variants()
        try #require(variants.count >= 2, "rung switching needs a ladder of at least 2 rungs; the master has:\n\(rig.masterText())")
        let browser = try HeadlessChromium()
        defer { browser.stop() }
        try browser.navigate(rig.page + "?engine=vhs")
        try browser.wait(for: "watchState.currentTime() > 0.5 && watchState.resolution() !== null", seconds: 20)
        let before = try #require(try browser.evaluate("watchState.resolution()") as? String)
        let height = try #require(Int(before.split(separator: "x").last ?? ""))
        // Keep only the rungs of another height enabled: VHS must move to one of them.
        let enabled = try browser.evaluate("""
            watchState.vhs().representations().map(r => { r.enabled(r.height !== \(height)); return r.enabled() ? r.height : null })
                .filter(h => h !== null)
            """)
        #expect((enabled as? [Int])?.isEmpty == false, "no other rung to switch to: \(String(describing: enabled))")
        try wait(browser, for: "watchState.resolution() !== '\(before)'", seconds: 15, "VHS stayed on \(before)")
        let s = try state(browser)
        #expect(s["resolution"] as? String != before, "\(s)")
        #expect(s["error"] is NSNull && (s["errors"] as? [Any])?.isEmpty == true, "\(s)")
        try screenshot(browser, "watch-vhs-switched")
    }

    /// Needs live conversion (segments published while converting, `preview_url` in the status answer). The
    /// conversion is paced by the test-only `INBOXD_TEST_CONVERT_DELAY_MS` (1 s before each 2 s segment: faster than
    /// real time, so the preview never stalls, and 30 s of media take over 15 s, so the job is still processing).
    @Test func thePageOfAVideoStillProcessingPlaysItsPreview() throws {
        let media = try MediaFactory()
        let clip = try media.h264AAC(seconds: 30, width: 854, height: 480)
        var options = DaemonHarness.Options()
        options.extraTOML = "segment_seconds = 2\n"
        options.shutdownGraceSeconds = 1
        options.environment = ["INBOXD_TEST_CONVERT_DELAY_MS": "1000"]
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: clip, as: "long.mp4", sidecar: ["title": "long", "visibility": "published"])
        let id = try d.videoID(title: "long")
        let preview: String = try eventually(timeout: 90, "a preview_url while job \(id) is processing") {
            guard let s = try? d.status(id).json else { return nil }
            if s["status"] as? String != "processing" {
                Issue.record("the job ended (\(s["status"] ?? "?")) without ever offering a preview_url: \(s)")
                return "none"
            }
            return s["preview_url"] as? String
        }
        try #require(preview != "none")
        let browser = try HeadlessChromium()
        defer { browser.stop() }
        try browser.navigate("\(d.baseURL)/videos/\(id)")
        let atLoad = try #require(try browser.evaluate("JSON.stringify({status: watchState.status, sources: watchState.sources})") as? String)
        #expect(atLoad.contains(#""status":"processing""#) && atLoad.contains(preview), "the page did not start on the preview: \(atLoad)")
        try browser.wait(for: "(watchState.played[\(jsString(preview))] || 0) > 3 || watchState.errors.length > 0", seconds: 30)
        let s = try state(browser)
        #expect(s["error"] is NSNull && (s["errors"] as? [Any])?.isEmpty == true, "\(s)")
        let played = try browser.evaluate("watchState.played[\(jsString(preview))]") as? Double
        #expect((played ?? 0) > 3, "the preview did not play 3 s: \(s)")
        #expect(s["status"] as? String == "processing", "the preview played while the job still ran: \(s)")
        #expect((s["sources"] as? [String])?.first == preview, "\(s)")
        try screenshot(browser, "watch-preview")
    }

    private func jsString(_ s: String) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed])) ?? Data(), as: UTF8.self)
    }
}

/// The HLS output in GStreamer (`gst-launch-1.0 playbin`: hlsdemux, libav's decoders), an independent player.
@Suite(.serialized) struct GStreamerPlaybackTests {
    @Test func playbinPlaysEveryRungAndTheMasterToTheEndAndABrokenSegmentFails() throws {
        let rig = try PlaybackRig()
        defer { rig.d.cleanUp() }
        let variants = try rig.variants()
        #expect(!variants.isEmpty)
        for path in variants + ["master.m3u8"] {
            let run = try GStreamerRun("\(rig.d.baseURL)/videos/\(rig.id)/\(path)")
            #expect(run.playedToTheEnd(of: rig.seconds),
                    "\(path): exit \(run.status), \(run.videoFrames) frames, EOS \(run.sawEndOfStream): \(run.stderr.suffix(2000))")
        }
        // The same check fails on a broken copy of a rung: a missing segment, and a segment of garbage.
        let rung = (variants[0] as NSString).deletingLastPathComponent
        for (name, damage) in [("missing", { (path: String) in try FileManager.default.removeItem(atPath: path) }),
                               ("garbage", { (path: String) in try Data((0..<300_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: path)) })] {
            let copy = "\(rig.d.output)/broken-\(name)"
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(rig.published)/\(rung)", toPath: "\(copy)/\(rung)")
            let segments = try FileManager.default.contentsOfDirectory(atPath: "\(copy)/\(rung)").filter { $0.hasSuffix(".ts") || $0.hasSuffix(".m4s") }.sorted()
            try #require(segments.count >= 3, "\(segments)")
            try damage("\(copy)/\(rung)/\(segments[1])")
            let run = try GStreamerRun("\(rig.d.baseURL)/broken-\(name)/\(rung)/index.m3u8")
            #expect(!run.playedToTheEnd(of: rig.seconds), "a \(name) segment went unnoticed: exit \(run.status), \(run.videoFrames) frames")
            if name == "missing" { #expect(run.status != 0, "playbin exits non-zero on a missing segment") }
        }
    }
}
