import Foundation
import TestSupport
import Testing

/// Crashes, restarts, admin retries and several daemons on one inbox never lose or duplicate a job.
@Suite(.serialized) struct RecoveryTests {
    @Test func killDashNineDuringConversionThenRestartEndsReadyExactlyOnce() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 40, width: 640, height: 480)  // a transcode that takes a while
        var options = DaemonHarness.Options()
        options.workers = 1
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "long.webm", sidecar: ["title": "crash"])
        let id = try d.videoID(title: "crash")
        try waitForPhase(d, id, "converting")
        Thread.sleep(forTimeInterval: 0.5)
        d.kill9()
        #expect(!Check.entries(d.inbox + "/processing").isEmpty, "the job stays claimed across the crash")

        try d.start()
        let j = try d.waitFor(id, timeout: 180)
        #expect(j["status"] as? String == "ready", "\(j)")
        _ = try Check.playable(j, sourcePath: src)
        #expect(try d.sql("SELECT attempts FROM videos WHERE video_id='\(id)'") == "2")
        #expect(try d.sql("SELECT count(*) FROM events WHERE video_id='\(id)' AND status='ready'") == "1")
        #expect(try d.sql("SELECT count(*) FROM videos") == "1")
        Check.inboxIsClean(d)
    }

    /// A claim cut short between its sidecar and media renames (the process died in between) leaves the sidecar in
    /// `processing/<id>/` and the media in `incoming/`: the next start finishes the claim and the job ends ready.
    /// A drop from `incoming/` itself has no `.origin` note (one inode less per claim); the media is looked for there.
    @Test func aClaimCutShortBetweenItsRenamesFetchesTheMediaFromIncomingOnRestart() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1)
        let d = try DaemonHarness(DaemonHarness.Options())
        defer { d.cleanUp() }
        let id = "5c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
        let dir = d.inbox + "/processing/" + id
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try d.writeSidecar(["title": "cut short", "video_id": id], to: dir + "/clip.mp4.json")
        try FileManager.default.copyItem(atPath: src, toPath: d.incoming + "/clip.mp4")
        try d.start()
        let j = try d.waitFor(id, timeout: 120)
        #expect(j["status"] as? String == "ready", "\(j)")
        #expect(try d.sql("SELECT count(*) FROM videos") == "1")
        #expect(!FileManager.default.fileExists(atPath: d.incoming + "/clip.mp4"), "the media was taken into the job")
        Check.inboxIsClean(d)
    }

    /// A publish failure (a file where the output directory should be) is fixed, then the admin's SQL from the
    /// old design re-runs the job from its kept originals without a restart.
    @Test func theAdminRecoverySQLRerunsFailedJobsWithoutARestart() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        let videos = d.output + "/videos"
        try FileManager.default.removeItem(atPath: videos)
        _ = FileManager.default.createFile(atPath: videos, contents: Data("in the way".utf8))

        try d.drop(media: src, as: "a.mp4", sidecar: ["title": "retry-sql"])
        try d.drop(media: src, as: "b.mp4", sidecar: ["title": "retry-cli"])
        try d.drop(media: src, as: "c.mp4", sidecar: ["title": "retry-all"])
        let ids = try ["retry-sql", "retry-cli", "retry-all"].map { try d.videoID(title: $0) }
        for id in ids {
            let j = try d.waitFor(id)
            #expect(j["status"] as? String == "failed")
            #expect(j["failure_reason"] as? String == "publish", "\(j)")
            #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(id)"))
        }
        try FileManager.default.removeItem(atPath: videos)
        try FileManager.default.createDirectory(atPath: videos, withIntermediateDirectories: true)

        _ = try d.sql("UPDATE videos SET status='processing' WHERE status='failed' AND video_id='\(ids[0])';")
        let first = try d.waitFor(ids[0], ["ready"], timeout: 60)
        #expect(first["status"] as? String == "ready")
        #expect(first["failure_reason"] is NSNull, "a successful retry clears the reason: \(first)")

        let one = try d.cli(["retry", ids[1]])
        #expect(one.status == 0, "\(one.stderr)")
        #expect(try d.waitFor(ids[1], ["ready"], timeout: 60)["status"] as? String == "ready")

        let all = try d.cli(["retry", "--all-failed"])
        #expect(all.stdout.contains("1 job(s) queued for retry"), "\(all.stdout + all.stderr)")
        #expect(try d.waitFor(ids[2], ["ready"], timeout: 60)["status"] as? String == "ready")

        let unknown = try d.cli(["retry", "6fa459ea-ee8a-3ca4-894e-db77e160355e"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no failed job"))
        Check.inboxIsClean(d)
        #expect(Check.entries(d.inbox + "/failed").isEmpty)

        // A failed row whose originals were deleted cannot be re-run: it says so instead of hanging in processing.
        let gone = "5b2f1ce4-7d1a-4c65-9a57-1f0c2b6e9d11"
        _ = try d.sql("""
            INSERT INTO videos (video_id, title, status, created_at, updated_at, finished_at, error)
            VALUES ('\(gone)', 'gone', 'failed', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', 'old');
            UPDATE videos SET status='processing' WHERE video_id='\(gone)';
            """)
        let j = try d.waitFor(gone, ["failed"], timeout: 30)
        #expect((j["error"] as? String ?? "").contains("originals are gone"), "\(j)")
        #expect(j["failure_reason"] as? String == "originals_missing", "\(j)")
    }

    @Test func sigtermLetsARunningJobFinish() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 12, width: 640, height: 480)
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "t.webm", sidecar: ["title": "term"])
        let id = try d.videoID(title: "term")
        try waitForPhase(d, id, "converting")
        #expect(d.stop() == 0)
        #expect(try d.sql("SELECT status FROM videos WHERE video_id='\(id)'") == "ready")
        Check.inboxIsClean(d)
    }

    @Test func sigtermPastTheGracePutsTheJobBackAndTheNextStartResumesIt() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 40, width: 640, height: 480)
        var options = DaemonHarness.Options()
        options.shutdownGraceSeconds = 0.2
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "g.webm", sidecar: ["title": "grace"])
        let id = try d.videoID(title: "grace")
        try waitForPhase(d, id, "converting")
        #expect(d.stop() == 0)
        #expect(try d.sql("SELECT status || '/' || phase FROM videos WHERE video_id='\(id)'") == "processing/queued")
        #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/processing/\(id)"))
        #expect(Check.entries(d.inbox + "/work").isEmpty)
        try d.start()
        #expect(try d.waitFor(id, timeout: 180)["status"] as? String == "ready")
    }

    @Test func theJobTimeLimitAbortsWithAClearError() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 40, width: 640, height: 480)
        var options = DaemonHarness.Options()
        options.jobTimeLimitSeconds = 1
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "slow.webm", sidecar: ["title": "limit"])
        let j = try d.waitFor(try d.videoID(title: "limit"))
        #expect(j["status"] as? String == "failed")
        #expect((j["error"] as? String ?? "").contains("time limit of 1 s exceeded"), "\(j)")
        #expect(j["failure_reason"] as? String == "time_limit", "\(j)")
        Check.inboxIsClean(d)
    }

    /// A `failed/<id>/` directory found without a row is recorded at start only when it holds a drop's file: one with
    /// nothing but a failure note is a rejection that has not taken (or lost the race for) its drop, not a failure.
    @Test func aFailedDirectoryWithoutADropFileGetsNoRow() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        let empty = UUID().uuidString.lowercased(), noteOnly = UUID().uuidString.lowercased(), kept = UUID().uuidString.lowercased()
        for id in [empty, noteOnly, kept] {
            try FileManager.default.createDirectory(atPath: "\(d.inbox)/failed/\(id)", withIntermediateDirectories: true)
        }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(d.inbox)/failed/\(noteOnly)/.inboxd-failure.json"))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(d.inbox)/failed/\(kept)/talk.mp4.json"))
        try d.start()
        _ = try eventually("the start's scan of failed/") { () -> Bool? in
            let log = d.logText()
            return [empty, noteOnly].allSatisfy { log.contains("job.id=\($0) [InboxDaemon] failed/ directory holds no drop yet") }
                && log.contains("job.id=\(kept) [InboxDaemon] recorded a failed drop that had no row") ? true : nil
        }
        #expect(try d.sql("SELECT video_id FROM videos") == kept)
        #expect(try d.sql("SELECT status FROM videos WHERE video_id = '\(kept)'") == "failed")
    }

    @Test func twoDaemonsOnOneInboxProcess200DropsEachExactlyOnce() throws {
        try withTwoDaemonsOnOneInbox { a, b in
            try dropClipsAndExpectEachReadyOnce(a, count: 200, timeout: 400)
            let logs = a.logText() + b.logText()
            #expect(logs.components(separatedBy: "Background processing completed successfully").count - 1 == 200)
            #expect(a.logText().contains("drop claimed") && b.logText().contains("drop claimed"), "both daemons took work")
            Check.inboxIsClean(a)
        }
    }
}
