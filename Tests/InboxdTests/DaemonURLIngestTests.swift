import Foundation
import TestSupport
import Testing

/// URL ingest drops (a sidecar with `source_url` and no media) against a real HTTP server on 127.0.0.1.
@Suite(.serialized) struct DaemonURLIngestTests {
    private func daemon(allowLoopback: Bool = true, stallSeconds: Double = 60, extra: String = "") throws -> DaemonHarness {
        var options = DaemonHarness.Options()
        options.stallSeconds = stallSeconds
        // Network faults are transient: two quick attempts, so the tests see both the retry and the final failure.
        options.extraTOML = """
            [retry]
            base_seconds = 0.5
            max_seconds = 1
            max_attempts = 2
            [url_ingest]
            \(allowLoopback ? "allow = [\"127.0.0.1\"]" : "")
            low_speed_seconds = 120
            \(extra)
            """
        let d = try DaemonHarness(options)
        try d.start()
        return d
    }

    @Test func aURLIngestWithAClipEndsReady() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 20, gopSeconds: 1, name: "remote.mp4")
        let server = try HTTPFixtureServer(root: media.directory)
        let d = try daemon()
        defer { d.cleanUp() }
        try d.writeSidecar(["title": "from url", "source_url": "\(server.baseURL)/files/remote.mp4",
                            "clip": ["start_s": 3, "duration_s": 10]], to: d.incoming + "/remote.json")
        let id = try d.videoID(title: "from url")
        let j = try d.waitFor(id)
        #expect(j["status"] as? String == "ready", "\(j)")
        let probe = try Check.playable(j)
        #expect(abs((probe.durationSeconds ?? 0) - 10) <= 6, "within one segment of the clip")
        #expect(try d.sql("SELECT source || ' ' || source_url FROM videos WHERE video_id='\(id)'") == "url \(server.baseURL)/files/remote.mp4")
        #expect(try d.sql("SELECT count(*) FROM events WHERE video_id='\(id)' AND phase='downloading'") == "1")
        _ = src
        Check.inboxIsClean(d)
    }

    @Test func loopbackIsRefusedWithoutTheAllowList() throws {
        let media = try MediaFactory()
        _ = try media.h264AAC(seconds: 2, name: "x.mp4")
        let server = try HTTPFixtureServer(root: media.directory)
        let d = try daemon(allowLoopback: false)
        defer { d.cleanUp() }
        try d.writeSidecar(["title": "ssrf", "source_url": "\(server.baseURL)/files/x.mp4"], to: d.incoming + "/ssrf.json")
        let j = try d.waitFor(try d.videoID(title: "ssrf"))
        #expect(j["status"] as? String == "failed")
        #expect((j["error"] as? String ?? "").contains("127.0.0.1"), "\(j)")
        #expect((j["error"] as? String ?? "").contains("loopback"), "\(j)")
        #expect(j["failure_reason"] as? String == "url_refused", "\(j)")
        #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(j["video_id"] as! String)/ssrf.json"))
    }

    @Test func a404AndALyingServerFailWithClearErrors() throws {
        let media = try MediaFactory()
        let server = try HTTPFixtureServer(root: media.directory)
        let d = try daemon()
        defer { d.cleanUp() }
        try d.writeSidecar(["title": "404", "source_url": "\(server.baseURL)/status/404"], to: d.incoming + "/a.json")
        try d.writeSidecar(["title": "liar", "source_url": "\(server.baseURL)/lie"], to: d.incoming + "/b.json")
        let notFound = try d.waitFor(try d.videoID(title: "404"))
        #expect(notFound["status"] as? String == "failed")
        #expect((notFound["error"] as? String ?? "").contains("404"), "\(notFound)")
        #expect(notFound["phase"] as? String == "downloading")
        #expect(notFound["failure_reason"] as? String == "download", "\(notFound)")
        #expect(notFound["attempts"] as? Int == 1, "a 404 is final: \(notFound)")
        let liar = try d.waitFor(try d.videoID(title: "liar"))
        #expect(liar["status"] as? String == "failed", "\(liar)")
        #expect(liar["phase"] as? String == "downloading")
        #expect(liar["failure_reason"] as? String == "download", "\(liar)")
        #expect(liar["attempts"] as? Int == 2, "a cut-short body may pass: retried \(liar)")
        #expect((liar["error"] as? String ?? "").hasPrefix("gave up after 2 attempts: "), "\(liar)")
        Check.inboxIsClean(d)
    }

    /// curl's own low-speed limit is set far away (120 s), so it is the daemon's stall watchdog that acts.
    @Test func aStalledDownloadIsAbortedByTheStallWatchdog() throws {
        let media = try MediaFactory()
        let server = try HTTPFixtureServer(root: media.directory)
        let d = try daemon(stallSeconds: 2)
        defer { d.cleanUp() }
        try d.writeSidecar(["title": "stall", "source_url": "\(server.baseURL)/stall"], to: d.incoming + "/s.json")
        let j = try d.waitFor(try d.videoID(title: "stall"), timeout: 60)
        #expect(j["status"] as? String == "failed")
        #expect((j["error"] as? String ?? "").contains("no progress for 2 s (stalled)"), "\(j)")
        #expect(j["failure_reason"] as? String == "stalled", "\(j)")
        #expect(j["attempts"] as? Int == 2, "a stalled transfer is retried: \(j)")
        Check.inboxIsClean(d)
    }
}
