import Foundation
import TestSupport
import Testing

/// tus uploads on nodes sharing one PostgreSQL store and one inbox, as behind a load balancer: the upload's row is in
/// the shared store and its bytes in the shared inbox, so each request may reach another node.
@Suite(.serialized) struct MultiNodeUploadTests {
    typealias Tus = ResumableUploadTests

    /// Created on node0, a quarter sent to node0, node0 killed while it streams more; node1 answers HEAD from the shared
    /// file and takes the rest: one `ready` job with the byte-identical media (its sha256 is checked). Then two nodes
    /// get a PATCH of one upload at once (one streams, the other is refused), DELETE reaches the node that did not
    /// create it, and an upload past its expiry is expired once although both nodes sweep.
    @Test func anUploadMovesBetweenNodesSurvivesANodeKilledMidChunkAndEndsOnce() throws {
        let pg = try PostgresServer.shared.get()
        let url = try pg.database()
        let media = try MediaFactory()
        let video = try media.h264AAC(seconds: 20, width: 640, height: 360, name: "moving.mp4")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: video)))
        #expect(bytes.count > 4 << 20, "the test needs chunks larger than the receiver's 1 MiB write batch")
        let nodes = try MultiNodeTests.nodes(2, url: url)
        defer { for n in nodes.reversed() { n.cleanUp() } }
        for n in nodes { try n.start() }
        let (a, b) = (nodes[0], nodes[1])
        let token = try ReceiverRig.addUser(a, "alice", ["--upload"])
        let scratch = try TempDir("tus-multi")
        defer { scratch.remove() }

        let created = try Tus.create(a.baseURL, token: token, length: bytes.count,
                                     fields: ["title": "Moving talk", "filename": "moving.mp4", "sha256": try Tus.sha256(video)])
        #expect(created.status == 201, "\(created)")
        let id = try #require(created.headers["x-video-id"], "\(created)")
        #expect(try pg.sql("SELECT state, upload_length FROM uploads WHERE video_id = '\(id)'", url: url) == "receiving|\(bytes.count)")
        #expect(try b.status(id).json?["phase"] as? String == "receiving")
        let half = bytes.count / 4
        let first = try Tus.patch(a.baseURL, id, token: token, offset: 0, bytes: bytes[..<half], dir: scratch)
        #expect(first.status == 204 && first.headers["upload-offset"] == String(half), "\(first)")
        #expect(try pg.sql("SELECT upload_offset FROM uploads WHERE video_id = '\(id)'", url: url) == String(half))

        // node0 dies while a chunk streams in; node1 resumes from what reached the shared file.
        let data = a.inbox + "/uploads/\(id)/data"
        let streaming = try Tus.partialPatch(port: a.port, id: id, token: token, offset: half, bytes: bytes[half...], send: (3 << 20) / 2)
        try Tus.poll("the streaming PATCH to reach the disk") { Tus.fileSize(data) > half }
        a.kill9()
        _ = streaming
        let head = try Tus.head(b.baseURL, id, token: token)
        let offset = Int(head.headers["upload-offset"] ?? "") ?? -1
        #expect(head.status == 200 && offset >= half && offset < bytes.count, "\(head)")
        let rest = try Tus.patch(b.baseURL, id, token: token, offset: offset, bytes: bytes[offset...], dir: scratch)
        #expect(rest.status == 204 && rest.headers["upload-offset"] == String(bytes.count), "\(rest)")
        #expect(try b.waitFor(id, timeout: 60)["status"] as? String == "ready", "the sha256 matched: the media is byte-identical")
        #expect(try pg.sql("SELECT count(*) FROM videos", url: url) == "1")
        #expect(try pg.sql("SELECT state, upload_offset FROM uploads WHERE video_id = '\(id)'", url: url) == "complete|\(bytes.count)")
        for message in ["upload complete (\(bytes.count) bytes)", "claimed"] {
            #expect(try pg.sql("SELECT count(*) FROM events WHERE video_id = '\(id)' AND message = '\(message)'", url: url) == "1", "\(message)")
        }
        #expect(try pg.sql("SELECT count(*) FROM events WHERE video_id = '\(id)' AND status = 'ready'", url: url) == "1")
        #expect(Tus.uploadsEntries(b).isEmpty)
        try b.waitForLog("Video upload accepted for background processing: \(id)")
        #expect(try Tus.head(b.baseURL, id, token: token).headers["upload-offset"] == String(bytes.count))

        // Two nodes, one upload, two PATCHes at once: the one streaming on node0 holds it, node1 refuses the other.
        try a.start()
        let length = 3 << 20, send = (3 << 20) / 2
        let second = try Tus.create(b.baseURL, token: token, length: length, fields: ["title": "Contended"])
        let id2 = try #require(second.headers["x-video-id"], "\(second)")
        var holder: RawConnection? = try Tus.partialPatch(port: a.port, id: id2, token: token, offset: 0,
                                                          bytes: Array(repeating: 7, count: length)[...], send: send)
        try Tus.poll("node0's PATCH to reach the disk") { Tus.fileSize(b.inbox + "/uploads/\(id2)/data") > 0 }
        let other = try Tus.patch(b.baseURL, id2, token: token, offset: 0, bytes: Array(repeating: 9, count: 500)[...], dir: scratch)
        #expect(other.status == 423 && other.body.contains("busy in another process"), "\(other)")
        holder = nil
        _ = holder
        try Tus.poll("node0's cut chunk to count") { try Tus.head(b.baseURL, id2, token: token).headers["upload-offset"] == String(send) }
        let stale = try Tus.patch(b.baseURL, id2, token: token, offset: 0, bytes: Array(repeating: 9, count: 500)[...], dir: scratch)
        #expect(stale.status == 409 && stale.body.contains("offset_mismatch"), "\(stale)")
        let kept = try Data(contentsOf: URL(fileURLWithPath: b.inbox + "/uploads/\(id2)/data"))
        #expect(kept == Data(repeating: 7, count: send), "node0's bytes alone, none of the refused PATCH's")

        // DELETE on the node that did not create it.
        let terminated = try Tus.tus(["-X", "DELETE", "\(a.baseURL)/api/uploads/\(id2)"], token: token)
        #expect(terminated.status == 204, "\(terminated)")
        #expect(try pg.sql("SELECT v.status, v.failure_reason, u.state FROM videos v JOIN uploads u USING (video_id) WHERE video_id = '\(id2)'",
                           url: url) == "failed|upload_terminated|terminated")
        #expect(!FileManager.default.fileExists(atPath: a.inbox + "/uploads/\(id2)"))
        #expect(try Tus.head(b.baseURL, id2, token: token).status == 410)

        // Expired (its time set in the past in the shared store): both nodes sweep, one expires it.
        let third = try Tus.create(a.baseURL, token: token, length: 1000, fields: ["title": "Abandoned"])
        let id3 = try #require(third.headers["x-video-id"], "\(third)")
        #expect(try Tus.patch(b.baseURL, id3, token: token, offset: 0, bytes: Array(repeating: 1, count: 100)[...], dir: scratch).status == 204)
        try pg.sql("UPDATE uploads SET expires_at = '2001-01-01T00:00:00Z' WHERE video_id = '\(id3)'", url: url)
        try Tus.poll("the upload to expire") { try pg.sql("SELECT status FROM videos WHERE video_id = '\(id3)'", url: url) == "failed" }
        #expect(try pg.sql("SELECT phase, failure_reason FROM videos WHERE video_id = '\(id3)'", url: url) == "receiving|upload_expired")
        #expect(try pg.sql("SELECT state FROM uploads WHERE video_id = '\(id3)'", url: url) == "expired")
        try Tus.poll("the expired bytes to go") { !FileManager.default.fileExists(atPath: a.inbox + "/uploads/\(id3)") }
        usleep(1_500_000)  // three more sweeps of each node: none may expire it again
        #expect(try pg.sql("SELECT count(*) FROM events WHERE video_id = '\(id3)' AND status = 'failed'", url: url) == "1")
        let logged = nodes.map { $0.logText().components(separatedBy: "Background processing failed for video \(id3): upload expired").count - 1 }
        #expect(logged.reduce(0, +) == 1, "\(logged)")
        #expect(try Tus.head(a.baseURL, id3, token: token).status == 410)
    }
}
