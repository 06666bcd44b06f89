import Foundation
import TestSupport
import Testing

/// Per-user limits on a live daemon: a full queue answers uploads with 429 and leaves the user's drops waiting in
/// `incoming/<user>/` (not failed) until the queue drains; a rate limit answers 429 with `Retry-After`.
@Suite(.serialized) struct QueueLimitTests {
    /// Dave may have one job in the queue. His URL ingest hangs on a server that never answers, so his queue stays
    /// full: an upload gets 429 and a drop in `incoming/dave/` waits. Once the hanging job fails, the drop is claimed
    /// and converted.
    @Test func aFullQueueRefusesUploadsAndHoldsDropsUntilItDrains() throws {
        let media = try MediaFactory()
        let clip = try media.h264AAC(seconds: 1, width: 160, height: 120, gopSeconds: 1)
        let silent = try SilentListener()
        defer { silent.close() }
        let rig = try ReceiverRig(extraTOML: """
            [limits]
            max_queued_jobs = 1
            [retry]
            max_attempts = 1
            [url_ingest]
            allow = ["127.0.0.1"]
            """, workers: 1)
        defer { rig.d.cleanUp() }
        let d = rig.d
        let dave = try ReceiverRig.addUser(d, "dave", ["--upload"])
        let base = d.baseURL

        let ingest = try CurlResult.run(["-H", "Content-Type: application/json", "-d",
                                         #"{"url":"http://127.0.0.1:\#(silent.port)/a.mp4","title":"hangs"}"#, "\(base)/api/videos/youtube"], token: dave)
        #expect(ingest.status == 202, "\(ingest.body)")
        let hanging = try #require(ingest.json?["video_id"] as? String)
        try waitForPhase(d, hanging, "downloading")

        let refused = try CurlResult.run(["-F", "video=@\(clip)", "-F", "title=second", "\(base)/api/videos/"], token: dave)
        #expect(refused.status == 429, "\(refused.body)")
        #expect(refused.json?["error"] as? String == "rate_limited")
        #expect((refused.json?["detail"] as? String ?? "").contains("max_queued_jobs 1"), "\(refused.body)")
        #expect(refused.trace.lowercased().contains("< retry-after: 30"), "\(refused.trace)")
        // Another user is not affected by dave's queue.
        let other = try CurlResult.run(["-F", "video=@\(clip)", "-F", "title=uploader's", "\(base)/api/videos/"], token: rig.uploader)
        #expect(other.status == 202, "\(other.body)")

        try d.drop(media: clip, as: "waits.mp4", sidecar: ["title": "waits"], subdirectory: "dave")
        try d.waitForLog("user's queue is full; their drops wait in incoming/")
        try d.waitForLog("drop.wait=user_queue_full")
        #expect(FileManager.default.fileExists(atPath: d.incoming + "/dave/waits.mp4.json"), "the drop waits where it is")
        #expect(try d.sql("SELECT COUNT(*) FROM videos WHERE username = 'dave'") == "1", "no row for the waiting drop yet")

        silent.close()  // the hanging download fails; dave's queue drains
        let failed = try d.waitFor(hanging)
        #expect(failed["status"] as? String == "failed")
        let waiting = try d.videoID(title: "waits")
        #expect(try d.waitFor(waiting)["status"] as? String == "ready")
        #expect(Check.entries(d.incoming + "/dave").isEmpty)
        #expect(try d.sql("SELECT COUNT(*) FROM videos WHERE status = 'failed' AND video_id != '\(hanging)'") == "0")
    }

    /// `--uploads-per-minute 1`: the second upload within a minute is 429 with a `Retry-After` of at most 60 s and
    /// the JSON error; the user's own `--max-queued-jobs 0` (unlimited) overrides the config's cap.
    @Test func aRateLimitAnswers429WithRetryAfter() throws {
        let rig = try ReceiverRig(extraTOML: "[limits]\nmax_queued_jobs = 1\n")
        defer { rig.d.cleanUp() }
        let d = rig.d
        let erin = try ReceiverRig.addUser(d, "erin", ["--upload", "--uploads-per-minute", "1", "--max-queued-jobs", "0"])
        #expect(try d.cli(["user", "list"]).stdout.contains("uploads_per_minute=1"))
        let tmp = try TempDir("inboxd-rate")
        let file = try randomFile(tmp, "x.mp4", count: 1000)
        let put = { (id: String) throws -> CurlResult in
            try CurlResult.run(["-H", "Content-Type: video/mp4", "-T", file, "\(d.baseURL)/api/videos/\(id)/file?title=rate"], token: erin)
        }
        let first = try put(UUID().uuidString.lowercased())
        #expect(first.status == 202, "\(first.body)")
        let second = try put(UUID().uuidString.lowercased())
        #expect(second.status == 429, "\(second.body)")
        #expect(second.json?["error"] as? String == "rate_limited")
        #expect((second.json?["detail"] as? String ?? "").contains("uploads_per_minute"), "\(second.body)")
        let retry = second.trace.components(separatedBy: .newlines).first { $0.lowercased().hasPrefix("< retry-after:") }
            .flatMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(retry.map { (1...60).contains($0) } == true, "\(second.trace)")
        // A tus creation is an upload start too: the same limit, the same 429, and no upload row is made.
        let tus = try ResumableUploadTests.create(d.baseURL, token: erin, length: 1000, fields: ["title": "rate"])
        #expect(tus.status == 429, "\(tus.body)")
        #expect(tus.headers["retry-after"].flatMap { Int($0) }.map { (1...60).contains($0) } == true, "\(tus.headers)")
        #expect(tus.body.contains("uploads_per_minute"), "\(tus.body)")
        #expect(try d.sql("SELECT COUNT(*) FROM uploads") == "0")
        // A priority outside the integer range is a 400 naming the field.
        let badPriority = try CurlResult.run(["-H", "Content-Type: video/mp4", "-T", file,
                                              "\(d.baseURL)/api/videos/\(UUID().uuidString.lowercased())/file?title=p&priority=high"], token: rig.uploader)
        #expect(badPriority.status == 400 && badPriority.body.contains("'priority' must be an integer"), "\(badPriority.body)")
    }
}
