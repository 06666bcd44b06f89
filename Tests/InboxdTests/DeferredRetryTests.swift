import Foundation
import TestSupport
import Testing

/// Transient faults defer a job (phase `retrying`, `next_attempt_at`) instead of failing it; retries survive
/// restarts; a drop that kills the daemon on every attempt ends `failed` with reason `crashed`.
@Suite(.serialized) struct DeferredRetryTests {
    private func daemon(_ retry: String, workers: Int = 2, environment: [String: String] = [:]) throws -> DaemonHarness {
        var o = DaemonHarness.Options()
        o.workers = workers
        o.environment = environment
        o.extraTOML = """
            [retry]
            \(retry)
            [url_ingest]
            allow = ["127.0.0.1"]
            """
        return try DaemonHarness(o)
    }

    /// A server that answers 503 twice, then the file: retried after backoff (across a restart) and ready.
    @Test func aDownloadThatFailsWith503IsRetriedAcrossARestartAndEndsReady() throws {
        let media = try MediaFactory()
        _ = try media.h264AAC(seconds: 2, name: "flaky.mp4")
        let server = try HTTPFixtureServer(root: media.directory)
        let d = try daemon("base_seconds = 2\nmax_seconds = 4\nmax_attempts = 5")
        defer { d.cleanUp() }
        try d.start()
        try d.writeSidecar(["title": "flaky", "source_url": "\(server.baseURL)/flaky/2/flaky.mp4"], to: d.incoming + "/flaky.json")
        let id = try d.videoID(title: "flaky")
        try waitForPhase(d, id, "retrying")
        let waiting = try #require(try d.status(id).json)
        #expect(waiting["status"] as? String == "processing", "a transient failure is not a failure: \(waiting)")
        #expect(waiting["next_attempt_at"] is String, "\(waiting)")
        #expect(waiting["failure_reason"] as? String == "download", "\(waiting)")
        #expect((waiting["error"] as? String ?? "").contains("HTTP 503"), "\(waiting)")
        let cli = try d.cli(["status", id])
        #expect(cli.stdout.contains("next try:"), "\(cli.stdout)")
        let metrics = try HTTPClient.get("\(d.baseURL)/metrics").body
        #expect(metrics.contains(#"inboxd_job_retries_total{reason="download"} 1"#), "\(metrics)")

        d.stop()  // the retry is in the db: it survives the restart
        try d.start()
        let j = try d.waitFor(id, timeout: 60)
        #expect(j["status"] as? String == "ready", "\(j)")
        #expect(j["next_attempt_at"] is NSNull)
        #expect(j["error"] is NSNull)
        #expect(try d.sql("SELECT attempts FROM videos WHERE video_id='\(id)'") == "3")
        #expect(try d.sql("SELECT count(*) FROM events WHERE video_id='\(id)' AND phase='retrying'") == "2")
        Check.inboxIsClean(d)
    }

    @Test func aTransientFaultThatOutlastsMaxAttemptsFailsWithItsReason() throws {
        let media = try MediaFactory()
        let server = try HTTPFixtureServer(root: media.directory)
        let d = try daemon("base_seconds = 0.5\nmax_seconds = 1\nmax_attempts = 3")
        defer { d.cleanUp() }
        try d.start()
        try d.writeSidecar(["title": "down", "source_url": "\(server.baseURL)/status/503"], to: d.incoming + "/down.json")
        let id = try d.videoID(title: "down")
        let j = try d.waitFor(id, ["failed"], timeout: 60)
        #expect(j["failure_reason"] as? String == "download", "\(j)")
        #expect((j["error"] as? String ?? "").hasPrefix("gave up after 3 attempts: "), "\(j)")
        #expect(j["attempts"] as? Int == 3)
        #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(id)"), "originals kept for a retry")

        // A permanent answer (404) fails at the first attempt.
        try d.writeSidecar(["title": "gone", "source_url": "\(server.baseURL)/status/404"], to: d.incoming + "/gone.json")
        let gone = try d.waitFor(try d.videoID(title: "gone"), ["failed"], timeout: 30)
        #expect(gone["attempts"] as? Int == 1, "\(gone)")
    }

    /// A poison drop: the daemon dies converting it, every time. It fails as `crashed` after `max_attempts`
    /// instead of crash-looping, and other drops are processed.
    @Test func aDropThatCrashesTheDaemonFailsAsCrashedAfterMaxAttempts() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1)
        let d = try daemon("max_attempts = 3", workers: 1, environment: ["INBOXD_TEST_CRASH_ON": "poison"])
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "poison.mp4", sidecar: ["title": "poison"])
        let id = try d.videoID(title: "poison")
        // Each death is a restart by hand (as systemd's Restart=on-failure would); a restart may die at once,
        // when the resumed job crashes before /healthz answers.
        var deaths = 0
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline, (try? d.sql("SELECT status FROM videos WHERE video_id='\(id)'")) != "failed" {
            if d.hasExited || !d.isRunning {
                deaths += 1
                if deaths > 4 { break }
                do { try d.start() } catch HarnessError.exited { continue }
            }
            usleep(100_000)
        }
        let restarts = deaths
        if !d.isRunning { try d.start() }
        #expect(restarts == 3, "each allowed attempt crashed once, then the drop failed instead of crashing again")
        let j = try d.waitFor(id, ["failed"], timeout: 10)
        #expect(j["failure_reason"] as? String == "crashed", "\(j)")
        #expect((j["error"] as? String ?? "").contains("stopped during each of 3 attempts"), "\(j)")
        #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(id)/poison.mp4"))

        try d.drop(media: src, as: "fine.mp4", sidecar: ["title": "fine"])
        #expect(try d.waitFor(try d.videoID(title: "fine"))["status"] as? String == "ready")
        #expect(d.isRunning)
    }
}
