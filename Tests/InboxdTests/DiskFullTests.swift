import Foundation
import TestSupport
import Testing

/// A filesystem fills up under the daemon (a small tmpfs mounted by the test): jobs wait instead of failing, uploads
/// are refused with 507 leaving nothing behind, the status API keeps answering, the db stays sound, and everything
/// completes once space is freed.
@Suite(.serialized, .enabled(if: Tmpfs.unavailableReason == nil, Comment(rawValue: "mounts a tmpfs: \(Tmpfs.unavailableReason ?? "")")))
struct DiskFullTests {
    @Test func aFullInboxFilesystemDefersTheJobRefusesUploadsWith507AndRecoversWhenSpaceIsFreed() throws {
        var report = FaultReport(scenario: "disk full: inbox")
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 6, width: 320, height: 240)
        let upload = try media.randomBytes(named: "big.mp4", count: 3 << 20)
        var options = DaemonHarness.Options()
        options.workers = 1
        options.settleSeconds = 0.2
        options.minFreeBytes = 0  // the refusal must come from the failed write itself
        options.extraTOML = retryTOML(baseSeconds: 0.5, maxSeconds: 2, maxAttempts: 1000)
        let d = try DaemonHarness(options)
        let fs = try Tmpfs(at: d.inbox, bytes: 16 << 20)
        defer {
            d.stop()
            fs.unmount()
            d.cleanUp()
        }
        try FileManager.default.createDirectory(atPath: d.incoming, withIntermediateDirectories: true)
        try d.start()
        let token = try ReceiverRig.addUser(d, "uploader", ["--upload"])

        // Room for the drop itself, not for its HLS scratch copy.
        let size = Int64(try Data(contentsOf: URL(fileURLWithPath: src)).count)
        let filler = try fs.fill(leaving: size + (96 << 10))
        try d.drop(media: src, as: "full.mp4", sidecar: ["title": "full"])
        let id = try d.videoID(title: "full")

        let waiting = try waitForPhase(d, id, "retrying", timeout: 60)
        #expect(waiting["status"] as? String == "processing", "\(waiting)")
        #expect(waiting["next_attempt_at"] is String, "a retrying job says when it runs again: \(waiting)")
        #expect((waiting["attempts"] as? Int ?? 0) >= 1, "\(waiting)")
        #expect(try HTTPClient.get(d.baseURL + "/healthz").status == 200)

        let uploadID = UUID().uuidString.lowercased()
        let refused = try CurlResult.run(
            ["-H", "Content-Type: video/mp4", "-T", upload, "\(d.baseURL)/api/videos/\(uploadID)/file?title=big&filename=big.mp4"],
            token: token, maxTime: 30)
        #expect(refused.status == 507, "\(refused.body)")
        #expect(refused.json?["error"] as? String == "insufficient_storage", "\(refused.body)")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: d.incoming)) ?? []
        #expect(leftovers.isEmpty, "the refused upload left \(leftovers) in incoming/")
        #expect(try d.sql("SELECT count(*) FROM videos WHERE video_id='\(uploadID)'") == "0")
        #expect(try d.status(id).status == 200, "the status API answers while the disk is full")
        #expect(try d.integrityCheck() == "ok")

        try FileManager.default.removeItem(atPath: filler)
        let done = try d.waitFor(id, ["ready", "failed"], timeout: 120)
        #expect(done["status"] as? String == "ready", "\(done)")
        _ = try Check.playable(done, sourcePath: src)
        try expectEachReadyExactlyOnce(d, titles: ["full"], report: &report)
        #expect(d.isRunning)
        report.notes = "attempts \(try d.sql("SELECT attempts FROM videos WHERE video_id='\(id)'"))"
        report.print()
    }

    @Test func aFullFilesystemUnderTheDbAndTheOutputDefersJobsUntilSpaceReturns() throws {
        var report = FaultReport(scenario: "disk full: db + output")
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 3, width: 320, height: 240)
        let state = try TempDir("inboxd-state")
        let fs = try Tmpfs(at: state.path + "/fs", bytes: 24 << 20)
        var options = DaemonHarness.Options()
        options.workers = 2
        options.settleSeconds = 0.2
        options.recoveryPollSeconds = 0.5
        options.db = fs.path + "/inboxd.db"
        options.output = fs.path + "/output"
        options.extraTOML = retryTOML(baseSeconds: 0.5, maxSeconds: 2, maxAttempts: 1000)
        let d = try DaemonHarness(options)
        defer {
            d.stop()
            fs.unmount()
            d.cleanUp()
            state.remove()
        }
        try d.start()
        try d.drop(media: src, as: "before.mp4", sidecar: ["title": "before"])
        let beforeID = try d.videoID(title: "before")
        #expect(try d.waitFor(beforeID)["status"] as? String == "ready")

        let filler = try fs.fill(leaving: 0)
        let cursor = d.logLength()
        let ids = ["7d0c6f1e-2b4a-4c1d-9e3f-5a6b7c8d9e01", "7d0c6f1e-2b4a-4c1d-9e3f-5a6b7c8d9e02"]
        for (i, id) in ids.enumerated() {
            try d.drop(media: src, as: "full\(i).mp4", sidecar: ["title": "full \(i)", "video_id": id])
        }
        // The daemon runs into the full filesystem (SQLite says "database or disk is full", the copy ENOSPC).
        _ = try eventually(timeout: 60, "the daemon to hit the full filesystem") { () -> Bool? in
            let log = d.logText(from: cursor)
            return log.contains("No space left on device") || log.contains("disk is full") ? true : nil
        }
        Thread.sleep(forTimeInterval: 2)
        for id in ids {
            let answer = try d.status(id)
            #expect([200, 404].contains(answer.status), "the status API answers while the db's disk is full: \(answer.status) \(answer.body)")
            #expect(answer.json?["status"] as? String != "failed", "a full disk is transient: \(answer.body)")
            #expect(answer.json?["status"] as? String != "ready", "ready although its output cannot be written: \(answer.body)")
        }
        #expect(try HTTPClient.get(d.baseURL + "/healthz").status == 200)
        #expect(d.isRunning)

        try FileManager.default.removeItem(atPath: filler)
        for id in ids { _ = try d.waitFor(id, ["ready", "failed"], timeout: 120) }
        try expectEachReadyExactlyOnce(d, titles: ["before", "full 0", "full 1"], report: &report)
        #expect(Check.entries(d.inbox + "/failed").isEmpty, "no drop parked in failed/: \(Check.entries(d.inbox + "/failed"))")
        let stray = Check.entries(d.output + "/videos").filter { !Set(ids + [beforeID]).contains($0) }
        #expect(stray.isEmpty, "output holds \(stray)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: d.output + "/videos")) ?? []).filter { $0.hasPrefix(".") }.isEmpty,
                "no half-copied staging directories left in the output")
        #expect(d.isRunning)
        report.print()
    }
}
