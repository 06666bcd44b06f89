import Foundation
import TestSupport
import Testing

/// Several `inboxd` processes as nodes of one installation: one inbox directory, one PostgreSQL store (`[store] url`,
/// a real server from `PostgresServer`) and, for the big run, one S3 bucket (SeaweedFS). Leases are short (3 s) so a
/// dead node's jobs move on quickly.
@Suite(.serialized) struct MultiNodeTests {
    static let lease = 3

    static func storeTOML(_ url: String, node: String) -> String {
        """
        [store]
        url = "\(url)"
        node = "\(node)"
        lease_seconds = \(lease)
        """
    }

    /// Nodes sharing the first one's inbox (and output); each with its own config, port and log.
    static func nodes(_ count: Int, url: String, extraTOML: String = "", workers: Int = 2,
                      orphanSeconds: Double = 3600) throws -> [DaemonHarness] {
        var nodes: [DaemonHarness] = []
        for n in 0..<count {
            var o = DaemonHarness.Options()
            o.workers = workers
            o.orphanSeconds = orphanSeconds
            o.sharing = nodes.first
            o.extraTOML = extraTOML + "\n" + storeTOML(url, node: "node\(n)")
            nodes.append(try DaemonHarness(o))
        }
        return nodes
    }

    static func count(_ pg: PostgresServer, _ url: String, _ condition: String) throws -> Int {
        Int(try pg.sql("SELECT count(*) FROM videos WHERE \(condition)", url: url)) ?? -1
    }

    /// 150 drops into one inbox shared by three nodes: every drop is claimed once and published once; a node killed
    /// with SIGKILL while it runs jobs loses them to the others once its leases run out, and each still reaches
    /// `ready` exactly once; the node started again takes jobs again.
    @Test func threeNodesShareTheWorkAndSurviveANodeKilledMidJob() throws {
        let pg = try PostgresServer.shared.get()
        let url = try pg.database()
        let s3 = try SeaweedFS(bucket: "inboxd-multi")
        defer { s3.stop() }
        let media = try MediaFactory()
        let clip = try media.h264AAC(seconds: 1)
        let s3TOML = """
            [s3]
            endpoint = "\(s3.endpoint)"
            region = "\(s3.region)"
            bucket = "\(s3.bucket)"
            prefix = "multi"
            access_key_id = "\(s3.accessKey)"
            secret_access_key = "\(s3.secretKey)"
            """
        let nodes = try Self.nodes(3, url: url, extraTOML: s3TOML)
        defer { for n in nodes.reversed() { n.cleanUp() } }
        for n in nodes { try n.start() }

        let ids = (0..<150).map { _ in UUID().uuidString.lowercased() }
        for (i, id) in ids.enumerated() {
            try nodes[0].drop(media: clip, as: "clip\(i).mp4", sidecar: ["title": "multi \(i)", "video_id": id])
        }

        // Kill node1 while it holds leases, once the run is under way.
        let victim = nodes[1]
        _ = try eventually(timeout: 120, "node1 to hold a running job") { () -> Bool? in
            guard try Self.count(pg, url, "status = 'ready'") >= 20 else { return nil }
            return try Self.count(pg, url, "locked_by = 'node1' AND status = 'processing'") > 0 ? true : nil
        }
        victim.kill9()
        let orphans = try pg.sql("SELECT video_id FROM videos WHERE locked_by = 'node1' AND status = 'processing'", url: url)
            .split(separator: "\n").map(String.init)
        #expect(!orphans.isEmpty, "node1 died holding no lease")
        let killedAt = Date()
        // Its jobs finish elsewhere within the lease and a few seconds.
        _ = try eventually(timeout: Double(Self.lease) + 20, "node1's jobs to finish on other nodes") { () -> Bool? in
            let list = orphans.map { "'\($0)'" }.joined(separator: ",")
            return try Self.count(pg, url, "video_id IN (\(list)) AND status = 'ready'") == orphans.count ? true : nil
        }
        let tookOver = Date().timeIntervalSince(killedAt)
        #expect(nodes[0].logText().contains("taking over a job whose lease ran out")
                || nodes[2].logText().contains("taking over a job whose lease ran out"))

        // node1 rejoins: restarted under the same name, it gives up its stale leases and takes jobs again.
        let before = victim.logLength()
        try victim.start()
        _ = try eventually(timeout: 120, "all 150 jobs to be ready") { () -> Bool? in
            try Self.count(pg, url, "status = 'ready'") == 150 ? true : nil
        }
        nodes[0].stop()
        nodes[2].stop()
        let late = (0..<4).map { _ in UUID().uuidString.lowercased() }
        for (i, id) in late.enumerated() {
            try victim.drop(media: clip, as: "late\(i).mp4", sidecar: ["title": "late \(i)", "video_id": id])
        }
        for id in late { #expect(try victim.waitFor(id, timeout: 60)["status"] as? String == "ready") }
        #expect(victim.logText(from: before).contains("Starting background processing"))

        // Each drop was claimed once, reached ready once, and its playlist is in the bucket.
        let all = ids + late
        #expect(try Self.count(pg, url, "status = 'ready'") == all.count)
        #expect(try pg.sql("SELECT count(*) FROM events WHERE message = 'claimed'", url: url) == "\(all.count)")
        #expect(try pg.sql("SELECT count(DISTINCT video_id) FROM events WHERE message = 'claimed'", url: url) == "\(all.count)")
        #expect(try pg.sql("SELECT count(*) FROM events WHERE status = 'ready'", url: url) == "\(all.count)")
        #expect(try pg.sql("SELECT count(*) FROM videos WHERE locked_by IS NOT NULL OR lease_until IS NOT NULL", url: url) == "0")
        let keys = Set(try s3.listKeys(prefix: "multi/videos/"))
        let missing = all.filter { !keys.contains("multi/videos/\($0)/master.m3u8") }
        #expect(missing.isEmpty, "playlists missing in S3: \(missing.prefix(5))")
        // A job's processing/ directory goes just after its row turns ready.
        _ = try? eventually(timeout: 15, "processing/ to empty") { Check.entries(nodes[0].inbox + "/processing").isEmpty ? true : nil }
        let left = Check.entries(nodes[0].inbox + "/processing")
        #expect(left.isEmpty, "left in processing/: \(left.map { "\($0): \(Check.entries(nodes[0].inbox + "/processing/" + $0))" })")
        #expect(Check.entries(nodes[0].inbox + "/incoming").isEmpty)
        print("MultiNodeTests: \(orphans.count) job(s) of the killed node finished elsewhere \(String(format: "%.1f", tookOver)) s after the kill")
    }

    /// A node that stalls (SIGSTOP) past its lease loses the job to another node; when it wakes up, its heartbeat
    /// (or its next write) finds the lease gone and it stops the job, so the job reaches `ready` once, from the node
    /// that took it over.
    @Test func aNodeThatStallsPastItsLeaseLosesTheJobAndStops() throws {
        let pg = try PostgresServer.shared.get()
        let url = try pg.database()
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 20, width: 640, height: 360)  // a transcode of several seconds
        let nodes = try Self.nodes(2, url: url, workers: 1)
        defer { for n in nodes.reversed() { n.resume(); n.cleanUp() } }
        for n in nodes { try n.start() }
        let id = UUID().uuidString.lowercased()
        try nodes[0].drop(media: src, as: "slow.webm", sidecar: ["title": "stall", "video_id": id])
        let holder: Int = try eventually(timeout: 60, "the job to be converting") { () -> Int? in
            let r = try pg.sql("SELECT locked_by FROM videos WHERE video_id = '\(id)' AND phase = 'converting'", url: url)
            return r == "node0" ? 0 : r == "node1" ? 1 : nil
        }
        let stalled = nodes[holder], other = nodes[1 - holder]
        stalled.pause()
        _ = try eventually(timeout: Double(Self.lease) + 20, "the other node to take the job over") { () -> Bool? in
            try pg.sql("SELECT locked_by FROM videos WHERE video_id = '\(id)'", url: url) == "node\(1 - holder)" ? true : nil
        }
        stalled.resume()
        #expect(try other.waitFor(id, ["ready"], timeout: 90)["status"] as? String == "ready")
        try stalled.waitForLog("lost the job's lease; leaving the job to the node that took it over", timeout: 30)
        #expect(try pg.sql("SELECT count(*) FROM events WHERE video_id = '\(id)' AND status = 'ready'", url: url) == "1")
        #expect(try pg.sql("SELECT attempts FROM videos WHERE video_id = '\(id)'", url: url) == "2")
        #expect(other.logText().contains("taking over a job whose lease ran out"))
    }

    /// The admin's recovery SQL and `inboxd retry` on the PostgreSQL store: failed jobs run again within seconds on
    /// some node, from the originals kept in `failed/<id>/`; `inboxd status` shows which node runs a job.
    @Test func theRecoverySQLAndTheCLIWorkOnPostgreSQL() throws {
        let pg = try PostgresServer.shared.get()
        let url = try pg.database()
        let media = try MediaFactory()
        let clip = try media.h264AAC(seconds: 1)
        let nodes = try Self.nodes(2, url: url)
        defer { for n in nodes.reversed() { n.cleanUp() } }
        for n in nodes { try n.start() }
        let videos = nodes[0].output + "/videos"
        try FileManager.default.removeItem(atPath: videos)
        _ = FileManager.default.createFile(atPath: videos, contents: Data("in the way".utf8))

        let ids = (0..<3).map { _ in UUID().uuidString.lowercased() }
        for (i, id) in ids.enumerated() {
            try nodes[0].drop(media: clip, as: "r\(i).mp4", sidecar: ["title": "recover \(i)", "video_id": id])
        }
        for id in ids {
            let j = try nodes[1].waitFor(id, timeout: 60)
            #expect(j["status"] as? String == "failed" && j["failure_reason"] as? String == "publish", "\(j)")
        }
        try FileManager.default.removeItem(atPath: videos)
        try FileManager.default.createDirectory(atPath: videos, withIntermediateDirectories: true)

        try pg.sql("UPDATE videos SET status='processing' WHERE status='failed' AND video_id='\(ids[0])'", url: url)
        #expect(try nodes[0].waitFor(ids[0], ["ready"], timeout: 30)["status"] as? String == "ready")

        let one = try nodes[1].cli(["retry", ids[1]])
        #expect(one.status == 0, "\(one.stderr)")
        #expect(try nodes[1].waitFor(ids[1], ["ready"], timeout: 30)["status"] as? String == "ready")
        let all = try nodes[0].cli(["retry", "--all-failed"])
        #expect(all.stdout.contains("1 job(s) queued for retry"), "\(all.stdout + all.stderr)")
        #expect(try nodes[0].waitFor(ids[2], ["ready"], timeout: 30)["status"] as? String == "ready")

        // `inboxd status` reads the shared store, and names the node holding a job's lease.
        try pg.sql("UPDATE videos SET locked_by = 'node7', lease_until = '2030-01-01T00:00:00Z' WHERE video_id = '\(ids[0])'", url: url)
        let shown = try nodes[1].cli(["status", ids[0]])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains("status:     ready") && shown.stdout.contains("node:       node7"), "\(shown.stdout)")
        // Without an id: the jobs in processing and the node running each.
        let running = UUID().uuidString.lowercased()
        try pg.sql("""
            INSERT INTO videos (video_id, title, status, phase, created_at, updated_at, locked_by, lease_until)
            VALUES ('\(running)', 'running', 'processing', 'converting', '2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z',
                    'node9', '2030-01-01T00:00:00Z')
            """, url: url)
        let table = try nodes[0].cli(["status"])
        #expect(table.status == 0 && table.stdout.contains(running) && table.stdout.contains("converting")
                && table.stdout.contains("node9 (2030-01-01T00:00:00Z)") && table.stdout.contains("1 job(s) in processing"), "\(table.stdout)")
        try pg.sql("DELETE FROM videos WHERE video_id = '\(running)'", url: url)
        #expect(Check.entries(nodes[0].inbox + "/failed").isEmpty)

        // A node that died between its claim's rename and its insert left a job directory with no row: some node
        // records the claim from the sidecar and runs it, once.
        let orphan = UUID().uuidString.lowercased()
        let dir = nodes[0].inbox + "/processing/" + orphan
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: clip, toPath: dir + "/o.mp4")
        try nodes[0].writeSidecar(["title": "orphaned claim", "video_id": orphan], to: dir + "/o.mp4.json")
        #expect(try nodes[1].waitFor(orphan, ["ready"], timeout: 30)["status"] as? String == "ready")
        #expect(try pg.sql("SELECT count(*) FROM events WHERE video_id = '\(orphan)' AND message = 'claimed'", url: url) == "1")
        #expect(nodes.contains { $0.logText().contains("recorded an abandoned claim") })

        // `inboxd webhooks` reads the shared store's outbox (empty: no webhooks configured here), not a SQLite file.
        let hooks = try nodes[0].cli(["webhooks", "list"])
        #expect(hooks.status == 0 && hooks.stdout.hasPrefix("id\tstate\tevent"),
                "\(hooks.stdout) \(hooks.stderr)")
    }

    /// Every node answers for every job from the shared store: `/status`, the whole row, the audit log, and the live
    /// SSE and WebSocket feeds (woken by the NOTIFY of whichever node wrote) follow a job to `ready` on both nodes,
    /// whichever of them runs it.
    @Test func everyNodeServesTheStatusAndLiveFeedsOfEveryJob() throws {
        let pg = try PostgresServer.shared.get()
        let url = try pg.database()
        let media = try MediaFactory()
        let src = try media.vp9NoAudio(seconds: 4, name: "feeds.webm")  // a transcode: several phases to watch
        let nodes = try Self.nodes(2, url: url)
        defer { for n in nodes.reversed() { n.cleanUp() } }
        for n in nodes { try n.start() }
        let id = UUID().uuidString.lowercased()
        try nodes[0].drop(media: src, as: "feeds.webm", sidecar: ["title": "feeds", "video_id": id])
        _ = try eventually(timeout: 60, "the job's row") { try Self.count(pg, url, "video_id = '\(id)'") == 1 ? true : nil }

        let sockets = nodes.map { WebSocketTests.Socket("ws://127.0.0.1:\($0.port)/api/videos/\(id)/ws") }
        let streams = try Shell.run("bash", ["-c", nodes.enumerated().map { i, n in
            "curl -sS -N --max-time 120 \(n.baseURL)/api/videos/\(id)/stream > \(n.root)/stream.txt &"
        }.joined(separator: " ") + " wait"])
        #expect(streams.status == 0, "\(streams.stderr)")
        for (n, socket) in zip(nodes, sockets) {
            let text = try String(contentsOfFile: n.root + "/stream.txt", encoding: .utf8)
            let statuses = text.components(separatedBy: "\n").filter { $0.hasPrefix("data: ") }
                .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8))) as? [String: Any] }
                .compactMap { $0["status"] as? String }
            #expect(statuses.first == "processing" && statuses.last == "ready", "node \(n.port): \(statuses)")
            #expect(statuses.filter { $0 == "ready" }.count == 1)
            let frames = try socket.wait().compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            #expect(frames.last?["status"] as? String == "ready", "node \(n.port): \(frames)")
            let row = try HTTPClient.get("\(n.baseURL)/api/videos/\(id)").json ?? [:]
            #expect(row["status"] as? String == "ready" && row.keys.contains("locked_by") && row["locked_by"] is NSNull, "\(row)")
            #expect(row["attempts"] as? Int == 1 && row["priority"] as? Int == 0, "integers stay integers: \(row)")
            let events = try HTTPClient.get("\(n.baseURL)/api/videos/\(id)/events").json?["events"] as? [[String: Any]] ?? []
            #expect(events.first?["message"] as? String == "claimed" && events.last?["status"] as? String == "ready", "\(events)")
        }
        let ran = nodes.filter { $0.logText().contains("Starting background processing for video \(id)") }
        #expect(ran.count == 1, "the job ran on exactly one node")
        let health = try HTTPClient.get(nodes[1].baseURL + "/healthz")
        #expect(health.status == 200 && health.json?["node"] as? String == "node1", "\(health.body)")
        // Each node's /metrics counts the shared store's jobs, every sample labelled with the node.
        for (i, n) in nodes.enumerated() {
            let m = try HTTPClient.get(n.baseURL + "/metrics")
            #expect(m.status == 200 && m.body.contains("inboxd_jobs{node=\"node\(i)\",status=\"ready\"} 1"), "\(m.body.prefix(2000))")
            let samples = m.body.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
            #expect(!samples.isEmpty && samples.allSatisfy { $0.contains("{node=\"node\(i)\"") }, "\(samples.prefix(5))")
        }
        let tus = try HTTPClient.request(["-X", "POST", nodes[1].baseURL + "/api/uploads"])
        #expect(tus.status == 401, "tus is served here, behind the receiver's auth: \(tus.body)")
        #expect(try HTTPClient.get("\(nodes[1].baseURL)/api/videos/\(UUID().uuidString.lowercased())/status").status == 404)
    }

    /// An unreachable server fails the start with the reason (webhooks in the config are no reason: they work on the
    /// PostgreSQL store too).
    @Test func anUnreachableStoreFailsAtStart() throws {
        var u = DaemonHarness.Options()
        u.extraTOML = """
            [[webhooks]]
            url = "https://hooks.example.com/inboxd"
            secret = "s"
            """ + "\n" + Self.storeTOML("postgres://inboxd@127.0.0.1:1/none?sslmode=disable", node: "x")
        let unreachable = try DaemonHarness(u)
        defer { unreachable.cleanUp() }
        let failed = try unreachable.runToExit(timeout: 60)
        #expect(failed.status != 0)
        #expect(failed.output.contains("cannot open the PostgreSQL store postgres://inboxd@127.0.0.1:1/none"), "\(failed.output)")
    }

    /// Two nodes on one inbox, both told of each drop by inotify at the same instant, with drops that can never
    /// succeed among good ones: each bad drop is failed by the node that renamed its sidecar (one row, one
    /// `video.failed`); the other node says nothing, as for a claim.
    @Test func twoNodesRejectEachBadDropOnce() throws {
        let pg = try PostgresServer.shared.get()
        let url = try pg.database()
        let nodes = try Self.nodes(2, url: url)
        defer { for n in nodes.reversed() { n.cleanUp() } }
        for n in nodes { try n.start() }
        try dropBadAmongGoodAndExpectEachRejectedOnce(nodes, orphans: false) { try pg.sql($0, url: url) }
    }
}
