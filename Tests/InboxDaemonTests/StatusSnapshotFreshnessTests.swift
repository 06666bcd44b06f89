import Foundation
import GRDB
@testable import InboxDaemon
import Pipeline
import StatusAPI
import Store
import Testing

/// The `/status` snapshot is never stale: after each of the daemon's writes to a job (every write path of
/// `JobStore` and of the receiver's upload journal), the very next status read answers the new row, byte for byte
/// what encoding the row afresh gives, while reads with no write in between come from the snapshot. The daemon's
/// writes are seen through the writer's commit count alone: the db's own version is asked only once an hour here.
@Suite struct StatusSnapshotFreshnessTests {
    @Test func everyWritePathIsSeenByTheNextStatusRead() async throws {
        let dir = NSTemporaryDirectory() + "inboxd-snapshot-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try JobStore(path: dir + "/inboxd.db")
        let reader = try StatusStore(path: dir + "/inboxd.db", commits: store.commits, recheckInterval: .seconds(3600))
        let snapshot = try #require(reader.snapshot)
        // Half a minute ahead, so a running job's ETA is a number that depends on the clock.
        let now = Date().addingTimeInterval(30)

        let a = VideoRow(videoID: "job-a", title: #"a "quoted" title, "eta_s":null ✓"#, source: .drop, sidecar: "{}")
        let b = VideoRow(videoID: "job-b", title: "b", source: .drop, sidecar: "{}")
        let c = VideoRow(videoID: "job-c", title: "c", source: .http)
        let d = VideoRow(videoID: "job-d", title: "d", source: .http)
        let e = VideoRow(videoID: "job-e", title: "e", source: .drop)
        try await store.recordClaim(a)
        var watched = ["job-a"]

        /// Reads every watched job twice (the second from the snapshot), runs `write`, then reads them again.
        func check(_ name: String, adding ids: [String] = [], _ write: () async throws -> Void) async throws {
            for id in watched {
                _ = try await reader.statusAnswer(id, now: now)
                let hits = snapshot.hits
                _ = try await reader.statusAnswer(id, now: now)
                #expect(snapshot.hits == hits + 1, "\(name): a repeated read of \(id) is not served from the snapshot")
            }
            try await write()
            watched += ids
            for id in watched {
                let fresh = try StatusAnswer(StatusResponse(try #require(try await store.row(id)), now: now))
                let cached = try #require(try await reader.statusAnswer(id, now: now))
                #expect(cached.body == fresh.body, "\(name): \(id) answered \(String(buffer: cached.body)), the row is \(String(buffer: fresh.body))")
                #expect(cached.tag == fresh.tag, "\(name): \(id)")
            }
        }

        try await check("recordClaims", adding: ["job-b"]) { _ = try await store.recordClaims([b]) }
        try await check("recordRejected", adding: ["job-e"]) { try await store.recordRejected(e, error: "no sidecar", reason: .sidecar) }
        try await check("startAttempt") { _ = try await store.startAttempt("job-a", maxAttempts: 3) }
        try await check("setPhase") { try await store.setPhase("job-a", .converting, progress: 0.25) }
        try await check("setProgress") { try await store.setProgress("job-a", 0.5) }
        try await check("setMediaInfo") {
            try await store.setMediaInfo("job-a", MediaInfo(durationSeconds: 2, width: 64, height: 48, videoCodec: "h264",
                                                            audioCodec: nil, sizeBytes: 500, formatName: "mov"))
        }
        try await check("markPlayable") { try await store.markPlayable("job-a", previewURL: "http://x/job-a/preview.m3u8") }
        try await check("markRetrying") {
            try await store.markRetrying("job-a", error: "S3 503", reason: .publish, at: Date().addingTimeInterval(600))
        }
        try await check("requeue") { try await store.requeue("job-a", reason: "shutdown") }
        try await check("resetAttempts") { try await store.resetAttempts("job-a") }
        try await check("markFailed") { try await store.markFailed("job-a", error: "gave up", reason: .publish) }
        try await check("retry") {
            let retried = try await store.retry(ids: ["job-a"])
            #expect(retried == ["job-a"])
        }
        try await check("markReady") {
            _ = try await store.startAttempt("job-b", maxAttempts: 3)
            try await store.markReady("job-b", PublishedVideo(videoURL: "https://cdn/b/master.m3u8", thumbnailURL: nil))
        }
        try await check("recordAcceptedUpload", adding: ["job-c"]) { try await store.recordAcceptedUpload(c) }
        try await check("recordUploadProgress") { try await store.recordUploadProgress("job-c", 0.4) }
        let upload = UploadRow(videoID: "job-d", uploadLength: 100, metadata: "", mediaName: "job-d.mp4",
                               userID: nil, username: nil, expiresAt: Timestamp.string(Date().addingTimeInterval(3600)))
        try await check("createResumableUpload", adding: ["job-d"]) { try await store.createResumableUpload(video: d, upload: upload) }
        try await check("endResumableUpload") {
            try await store.endResumableUpload("job-d", state: .expired, error: "expired", reason: .uploadExpired)
        }
        #expect(snapshot.misses > 0 && snapshot.hits > 0)
    }

    /// Another process's commit (admin SQL through `sqlite3`) does not pass through the daemon's writer: it is seen
    /// once the recheck interval has passed, and not before (the interval is an hour for the second store).
    @Test func anotherProcesssCommitIsSeenAfterTheRecheckInterval() async throws {
        let dir = NSTemporaryDirectory() + "inboxd-snapshot-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/inboxd.db"
        let store = try JobStore(path: path)
        try await store.recordClaim(VideoRow(videoID: "v", title: "before", source: .drop))
        let soon = try StatusStore(path: path, commits: store.commits, recheckInterval: .milliseconds(20))
        let late = try StatusStore(path: path, commits: store.commits, recheckInterval: .seconds(3600))
        for reader in [soon, late] { _ = try await reader.statusAnswer("v", now: Date()) }

        let sqlite3 = Process()
        sqlite3.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite3.arguments = [path, "UPDATE videos SET title = 'by hand' WHERE video_id = 'v'"]
        try sqlite3.run()
        sqlite3.waitUntilExit()
        #expect(sqlite3.terminationStatus == 0)
        try await Task.sleep(for: .milliseconds(40))

        let seen = String(buffer: try #require(try await soon.statusAnswer("v", now: Date())).body)
        #expect(seen.contains(#""title":"by hand""#), "\(seen)")
        let notYet = String(buffer: try #require(try await late.statusAnswer("v", now: Date())).body)
        #expect(notYet.contains(#""title":"before""#), "\(notYet)")
        // The daemon's next commit moves the version on: the other process's change comes with it.
        try await store.setProgress("v", 0.5)
        let after = String(buffer: try #require(try await late.statusAnswer("v", now: Date())).body)
        #expect(after.contains(#""title":"by hand""#) && after.contains(#""progress":0.5"#), "\(after)")
    }
}
