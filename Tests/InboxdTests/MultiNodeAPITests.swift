import Foundation
import TestSupport
import Testing

/// The API of a node on the shared PostgreSQL store beyond the per-job status routes: local publishing's files and
/// the watch page on every node, users (`inboxd user …` on the shared store, bearer tokens checked by any node) and
/// the receiver's uploads.
@Suite(.serialized) struct MultiNodeAPITests {
    /// Two nodes (shared inbox and output dir, one PostgreSQL), a public and a private job dropped on node0, users
    /// made with the CLI on the shared store: node1 serves the files node0 or node1 published, the watch pages, checks
    /// the tokens the CLI made (private pages, uploads to either node that any node converts), until revoked.
    @Test func everyNodeServesPublishedFilesWatchPagesAndTheSharedUsers() throws {
        let pg = try PostgresServer.shared.get()
        let url = try pg.database()
        let media = try MediaFactory()
        let clip = try media.h264AAC(seconds: 1)
        let server = try HTTPFixtureServer(root: media.directory)
        let nodes = try MultiNodeTests.nodes(2, url: url, extraTOML: "[url_ingest]\nallow = [\"127.0.0.1\"]")
        defer { for n in nodes.reversed() { n.cleanUp() } }
        for n in nodes { try n.start() }
        let (a, b) = (nodes[0], nodes[1])

        // Users on the shared store, made through node0's config, listed through node1's.
        let alice = try a.cli(["user", "add", "alice", "--upload"])
        #expect(alice.status == 0, "\(alice.stderr)")
        let aliceToken = try #require(alice.stdout.split(separator: "\n").last.map(String.init))
        let bob = try a.cli(["user", "add", "bob"])
        let bobToken = try #require(bob.stdout.split(separator: "\n").last.map(String.init))
        let again = try b.cli(["user", "add", "alice"])
        #expect(again.status != 0 && again.stderr.contains("user 'alice' already exists"), "\(again.stderr)")
        let bad = try b.cli(["user", "add", "no/slash"])
        #expect(bad.status != 0 && bad.stderr.contains("must be 1-64 characters"), "\(bad.stderr)")
        let modified = try b.cli(["user", "modify", "bob", "--max-queued-jobs", "3"])
        #expect(modified.status == 0 && modified.stdout.contains("max_queued_jobs=3"), "\(modified.stdout) \(modified.stderr)")
        #expect(try b.cli(["user", "modify", "nobody", "--admin"]).stderr.contains("no active user 'nobody'"))
        let list = try b.cli(["user", "list"])
        #expect(list.status == 0 && list.stdout.contains("\talice\tyes\tno\t") && list.stdout.contains("\tbob\tno\tno\t"), "\(list.stdout)")
        #expect(!list.stdout.contains(aliceToken))
        #expect(try pg.sql("SELECT count(*) FROM users", url: url) == "2")

        let open = UUID().uuidString.lowercased(), secret = UUID().uuidString.lowercased()
        try a.drop(media: clip, as: "open.mp4", sidecar: ["title": "Open talk", "video_id": open])
        try a.drop(media: clip, as: "secret.mp4", sidecar: ["title": "Secret talk", "video_id": secret, "visibility": "private", "username": "alice"])
        #expect(try b.waitFor(open, timeout: 60)["status"] as? String == "ready")
        #expect(try b.waitFor(secret, timeout: 60)["status"] as? String == "ready")

        // Published files, from the shared output dir, on both nodes, whichever published them.
        for n in nodes {
            let master = try HTTPClient.get("\(n.baseURL)/videos/\(open)/master.m3u8")
            #expect(master.status == 200 && master.body.hasPrefix("#EXTM3U"), "node \(n.port): \(master.status) \(master.body.prefix(200))")
            let head = try Shell.run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code} %{content_type}", "\(n.baseURL)/videos/\(open)/thumbnail.jpg"])
            #expect(head.stdout == "200 image/jpeg", "\(head.stdout)")
            #expect(try HTTPClient.get("\(n.baseURL)/videos/\(open)/nothing.m3u8").status == 404)
            #expect(try HTTPClient.get("\(n.baseURL)/videos/\(open)/%2e%2e/%2e%2e/etc/passwd").status == 400)
            // The watch page and its assets.
            let page = try HTTPClient.get("\(n.baseURL)/videos/\(open)")
            #expect(page.status == 200 && page.body.contains("Open talk") && page.body.contains("master.m3u8"), "\(page.body.prefix(500))")
            #expect(try HTTPClient.get("\(n.baseURL)/assets/watch.js").status == 200)
            #expect(try HTTPClient.get("\(n.baseURL)/videos/\(UUID().uuidString.lowercased())").status == 404)
            #expect(try HTTPClient.get("\(n.baseURL)/videos/bad%20id").status == 400)
        }

        // A private video's page: its owner's token (header or ?token=), not another user's, not none.
        let page = "\(b.baseURL)/videos/\(secret)"
        let anonymous = try HTTPClient.get(page)
        #expect(anonymous.status == 401 && anonymous.body.contains("This video is private") && !anonymous.body.contains("Secret talk"))
        #expect(try HTTPClient.get(page + "?token=wrong").status == 401)
        #expect(try HTTPClient.get(page + "?token=\(bobToken)").status == 403)
        #expect(try HTTPClient.get(page, headers: ["Authorization: Bearer \(bobToken)"]).status == 403)
        let owner = try HTTPClient.get(page, headers: ["Authorization: Bearer \(aliceToken)"])
        #expect(owner.status == 200 && owner.body.contains("Secret talk"), "\(owner.status) \(owner.body.prefix(300))")
        #expect(try HTTPClient.get(page + "?token=\(aliceToken)").status == 200)

        // The all-jobs WebSocket on node0, open before the uploads: an admin sees every job's changes, whichever node
        // made them, alice only hers.
        let ops = try a.cli(["user", "add", "ops", "--admin"])
        let opsToken = try #require(ops.stdout.split(separator: "\n").last.map(String.init))
        let readyIDs: @Sendable ([String]) -> Set<String> = { frames in
            Set(frames.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
                .filter { $0["status"] as? String == "ready" }.compactMap { $0["video_id"] as? String })
        }
        let aliceSocket = WebSocketTests.Socket("ws://127.0.0.1:\(a.port)/api/ws", token: aliceToken) { readyIDs($0).count >= 3 }
        let opsSocket = WebSocketTests.Socket("ws://127.0.0.1:\(a.port)/api/ws", token: opsToken) { readyIDs($0).count >= 4 }
        usleep(700_000)  // both sockets are open before the uploads

        // Uploads with the CLI-made token, to either node: the row is in PostgreSQL before the 202, the drop lands in
        // the shared inbox, some node claims it once and converts it.
        let up = try CurlResult.run(["-F", "video=@\(clip)", "-F", "title=uploaded to node1", "\(b.baseURL)/api/videos/"], token: aliceToken)
        #expect(up.status == 202, "\(up.body)")
        let uploaded = try #require(up.json?["video_id"] as? String)
        #expect(try pg.sql("SELECT username FROM videos WHERE video_id = '\(uploaded)'", url: url) == "alice")
        let rawID = UUID().uuidString.lowercased()
        let put = try CurlResult.run(["-H", "Content-Type: video/mp4", "-T", clip, "\(a.baseURL)/api/videos/\(rawID)/file?title=raw"], token: aliceToken)
        #expect(put.status == 202, "\(put.body)")
        let ingest = try CurlResult.run(["-H", "Content-Type: application/json", "-d",
                                         #"{"url":"\#(server.baseURL)/files/\#((clip as NSString).lastPathComponent)","title":"fetched"}"#,
                                         "\(b.baseURL)/api/videos/youtube"], token: aliceToken)
        #expect(ingest.status == 202, "\(ingest.body)")
        let fetched = try #require(ingest.json?["video_id"] as? String)
        #expect(try a.waitFor(uploaded, timeout: 60)["status"] as? String == "ready")
        #expect(try b.waitFor(rawID, timeout: 60)["status"] as? String == "ready")
        #expect(try a.waitFor(fetched, timeout: 60)["status"] as? String == "ready")
        let dropped = UUID().uuidString.lowercased()
        try b.drop(media: clip, as: "late.mp4", sidecar: ["title": "late", "video_id": dropped])
        #expect(try b.waitFor(dropped, timeout: 60)["status"] as? String == "ready")
        #expect(readyIDs(try aliceSocket.wait()) == [uploaded, rawID, fetched])
        #expect(readyIDs(try opsSocket.wait()) == [uploaded, rawID, fetched, dropped])
        #expect(try pg.sql("SELECT source FROM videos WHERE video_id = '\(fetched)'", url: url) == "url")
        for id in [uploaded, rawID, fetched] {
            #expect(try pg.sql("SELECT count(*) FROM events WHERE video_id = '\(id)' AND message = 'claimed'", url: url) == "1")
            #expect(try pg.sql("SELECT count(*) FROM events WHERE video_id = '\(id)' AND message = 'accepted by the HTTP receiver'", url: url) == "1")
        }
        // Refusals: no token, a user without the upload flag, an id that exists; nothing recorded for them.
        #expect(try CurlResult.run(["-F", "video=@\(clip)", "\(b.baseURL)/api/videos/"]).status == 401)
        let refused = try CurlResult.run(["-F", "video=@\(clip)", "\(b.baseURL)/api/videos/"], token: bobToken)
        #expect(refused.status == 403 && refused.body.contains("may not upload"), "\(refused.body)")
        let again409 = try CurlResult.run(["-H", "Content-Type: video/mp4", "-T", clip, "\(b.baseURL)/api/videos/\(rawID)/file?title=again"], token: aliceToken)
        #expect(again409.status == 409, "\(again409.body)")
        #expect(try MultiNodeTests.count(pg, url, "true") == 6)
        // The admins' job list, from the shared store on any node, a page at a time.
        let root = try a.cli(["user", "add", "root", "--admin"])
        let rootToken = try #require(root.stdout.split(separator: "\n").last.map(String.init))
        var listed: [String] = [], cursor: String? = nil
        repeat {
            let r = try HTTPClient.get("\(b.baseURL)/api/videos?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), headers: ["Authorization: Bearer \(rootToken)"])
            #expect(r.status == 200, "\(r.body)")
            let items = r.json?["items"] as? [[String: Any]] ?? []
            #expect(items.count <= 2 && !items.isEmpty)
            listed += items.compactMap { $0["video_id"] as? String }
            cursor = r.json?["next_cursor"] as? String
        } while cursor != nil && listed.count < 10
        let order = try pg.sql("SELECT string_agg(video_id, ',' ORDER BY created_at COLLATE \"C\", video_id COLLATE \"C\") FROM videos", url: url)
        #expect(listed.joined(separator: ",") == order, "\(listed) vs \(order)")
        let mine = try HTTPClient.get("\(a.baseURL)/api/videos?user=alice&status=ready", headers: ["Authorization: Bearer \(rootToken)"])
        #expect((mine.json?["items"] as? [[String: Any]])?.count == 4, "\(mine.body)")
        #expect(try HTTPClient.get("\(a.baseURL)/api/videos?status=done", headers: ["Authorization: Bearer \(rootToken)"]).status == 400)
        #expect(try HTTPClient.get("\(a.baseURL)/api/videos", headers: ["Authorization: Bearer \(aliceToken)"]).status == 403)
        #expect(try HTTPClient.get("\(a.baseURL)/api/videos").status == 401)

        // Stats over the shared store, on any node: the six jobs, each counted once.
        let stats = try HTTPClient.get("\(a.baseURL)/api/stats", headers: ["Authorization: Bearer \(rootToken)"])
        let jobs = stats.json?["jobs"] as? [String: Any] ?? [:]
        #expect(stats.status == 200 && jobs["created"] as? Int == 6 && jobs["ready"] as? Int == 6 && jobs["failed"] as? Int == 0, "\(stats.body)")
        #expect((stats.json?["bytes"] as? [String: Any])?["out"] as? Int ?? 0 > 0, "\(stats.body)")
        let cli = try b.cli(["stats", "--json"])
        #expect(cli.status == 0 && ((try? JSONSerialization.jsonObject(with: Data(cli.stdout.utf8))) as? [String: Any])
            .flatMap { $0["jobs"] as? [String: Any] }?["ready"] as? Int == 6, "\(cli.stdout) \(cli.stderr)")
        #expect(try HTTPClient.get("\(b.baseURL)/api/stats?since=yesterday", headers: ["Authorization: Bearer \(rootToken)"]).status == 400)
        #expect(try HTTPClient.get("\(b.baseURL)/api/stats", headers: ["Authorization: Bearer \(aliceToken)"]).status == 403)

        // The all-jobs WebSocket needs an upgrade, and a token.
        let plainWS = try HTTPClient.get("\(b.baseURL)/api/ws", headers: ["Authorization: Bearer \(aliceToken)"])
        #expect(plainWS.status == 426, "\(plainWS.body)")
        #expect(try HTTPClient.get("\(b.baseURL)/api/ws").status == 401)

        // Revoked on the shared store: refused by every node at once.
        let revoke = try b.cli(["user", "revoke", "alice"])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        for n in nodes {
            let r = try HTTPClient.get("\(n.baseURL)/videos/\(secret)?token=\(aliceToken)")
            #expect(r.status == 401 && r.body.contains("unknown or revoked token"), "\(r.body.prefix(300))")
        }
        #expect(try a.cli(["user", "revoke", "alice"]).stderr.contains("no active user 'alice'"))
    }

    /// Per-user upload limits hold across nodes (counted in the shared store, not per node): with
    /// `uploads_per_minute = 2`, uploads alternating between two nodes are admitted twice, then the third is 429 with
    /// `Retry-After` and the same JSON error on whichever node; another user is not affected.
    @Test func aUsersUploadRateLimitHoldsAcrossNodes() throws {
        let pg = try PostgresServer.shared.get()
        let url = try pg.database()
        let nodes = try MultiNodeTests.nodes(2, url: url, extraTOML: "[limits]\nuploads_per_minute = 2\n", workers: 1)
        defer { for n in nodes.reversed() { n.cleanUp() } }
        for n in nodes { try n.start() }
        let (a, b) = (nodes[0], nodes[1])
        let erin = try ReceiverRig.addUser(a, "erin", ["--upload"])
        let fred = try ReceiverRig.addUser(b, "fred", ["--upload"])
        let tmp = try TempDir("inboxd-rate")
        defer { tmp.remove() }
        let file = try randomFile(tmp, "x.mp4", count: 1000)
        let put = { (node: DaemonHarness, token: String) throws -> CurlResult in
            try CurlResult.run(["-H", "Content-Type: video/mp4", "-T", file,
                                "\(node.baseURL)/api/videos/\(UUID().uuidString.lowercased())/file?title=rate"], token: token)
        }
        for node in [a, b] {
            let r = try put(node, erin)
            #expect(r.status == 202, "node \(node.port): \(r.body)")
        }
        for node in [a, b] {
            let r = try put(node, erin)
            #expect(r.status == 429, "node \(node.port): \(r.body)")
            #expect(r.json?["error"] as? String == "rate_limited")
            let detail = r.json?["detail"] as? String ?? ""
            #expect(detail.contains("more than 2 uploads in a minute (uploads_per_minute)"), "\(r.body)")
            let retry = r.trace.components(separatedBy: .newlines).first { $0.lowercased().hasPrefix("< retry-after:") }
                .flatMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespacesAndNewlines)) }
            #expect(retry.map { (1...60).contains($0) } == true, "\(r.trace)")
        }
        #expect(try put(b, fred).status == 202, "another user's window is their own")
        let usage = try pg.sql("SELECT count(*) FROM upload_usage WHERE username = 'erin' AND bytes IS NULL", url: url)
        #expect(usage == "2")
        let rows = try pg.sql("SELECT video_id, status, phase, source FROM videos WHERE username = 'erin'", url: url)
        #expect(rows.split(separator: "\n").count == 2, "nothing recorded for the refused ones: \(rows)")
    }
}
