import Foundation
import TestSupport
import Testing

/// Webhooks on nodes sharing one PostgreSQL store: one outbox in the shared store, worked by every node, each delivery
/// sent by one node at a time, against a real receiver on 127.0.0.1 that checks every signature.
@Suite(.serialized) struct MultiNodeWebhookTests {
    static let secret = WebhookTests.secret
    static let notifySecret = WebhookTests.notifySecret

    /// `[[webhooks]]` entries for `receiver` (path → events), loopback allowed, small backoff, `extra` top-level keys.
    static func toml(_ receiver: WebhookReceiver, paths: [(String, [String])], extra: String = "") -> String {
        """
        webhook_backoff_base_seconds = 0.2
        webhook_backoff_max_seconds = 1
        notify_url_secret = "\(notifySecret)"
        \(extra)
        [url_ingest]
        allow = ["127.0.0.1"]
        \(WebhookTests.hooksTOML(receiver, paths: paths))
        """
    }

    static func delivered(_ r: WebhookReceiver, path: String, count: Int, timeout: Double = 60) throws -> [WebhookReceiver.Receipt] {
        try eventually(timeout: timeout, "\(count) deliveries to \(path)") { () -> [WebhookReceiver.Receipt]? in
            let got = r.receipts().filter { $0.path == path }
            return got.filter(\.delivered).count >= count ? got : nil
        }
    }

    /// Two converted jobs (one with its own `notify_url`) and six that fail (no media in their file) on two nodes: each job's end reaches
    /// each URL once, signed; a receiver that answers 503 gets every one of them once it is back; `inboxd webhooks`
    /// lists and redelivers from the shared store.
    @Test func eachEventIsDeliveredOnceFromTwoNodesAndRetriedUntilTheReceiverIsBack() throws {
        let pg = try PostgresServer.shared.get()
        let url = try pg.database()
        let receiver = try WebhookReceiver(secrets: [Self.secret, Self.notifySecret])
        receiver.close("down")
        let media = try MediaFactory()
        let clip = try media.h264AAC(seconds: 1)
        let ends = ["video.ready", "video.failed"]
        let nodes = try MultiNodeTests.nodes(2, url: url, extraTOML: Self.toml(receiver, paths: [("/ok/ends", ends), ("/gated/down", ends)]))
        defer { for n in nodes.reversed() { n.cleanUp() } }
        for n in nodes { try n.start() }

        let good = [UUID().uuidString.lowercased(), UUID().uuidString.lowercased()]
        try nodes[0].drop(media: clip, as: "a.mp4", sidecar: ["title": "a", "video_id": good[0], "notify_url": "\(receiver.baseURL)/ok/notify"])
        try nodes[1].drop(media: clip, as: "b.mp4", sidecar: ["title": "b", "video_id": good[1]])
        let garbage = media.directory + "/garbage.mp4"
        try Data((0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: garbage))
        let bad = (0..<6).map { _ in UUID().uuidString.lowercased() }
        for (i, id) in bad.enumerated() { try nodes[i % 2].drop(media: garbage, as: "bad\(i).mp4", sidecar: ["title": "bad \(i)", "video_id": id]) }
        _ = try eventually(timeout: 60, "8 finished jobs") { try MultiNodeTests.count(pg, url, "status IN ('ready', 'failed')") == 8 ? true : nil }
        let ids = Set(try pg.sql("SELECT video_id FROM videos", url: url).split(separator: "\n").map(String.init))
        #expect(ids == Set(good + bad))

        let sent = try Self.delivered(receiver, path: "/ok/ends", count: 8)
        #expect(sent.count == 8 && sent.allSatisfy { $0.delivered && $0.valid && $0.secret == 0 }, "\(sent.map(\.summary))")
        #expect(Set(sent.map(\.eventID)).count == 8 && Set(sent.compactMap { $0.data["video_id"] as? String }) == ids)
        #expect(sent.filter { $0.event == "video.ready" }.count == 2 && sent.filter { $0.event == "video.failed" }.count == 6)
        let notified = try Self.delivered(receiver, path: "/ok/notify", count: 1)
        #expect(notified.count == 1 && notified[0].valid && notified[0].secret == 1 && notified[0].data["video_id"] as? String == good[0],
                "\(notified.map(\.summary))")

        // The receiver was down (503): every event waits, retried with backoff, and arrives once when it is back.
        _ = try eventually("refused attempts") { receiver.receipts().filter { $0.path == "/gated/down" && $0.status == 503 }.count >= 8 ? true : nil }
        receiver.open("down")
        let retried = try Self.delivered(receiver, path: "/gated/down", count: 8).filter(\.delivered)
        #expect(retried.count == 8 && retried.allSatisfy(\.valid))
        #expect(Set(retried.map(\.eventID)) == Set(sent.map(\.eventID)), "the same events, each once")
        _ = try eventually("every row to say delivered") { () -> Bool? in
            try pg.sql("SELECT count(*) FILTER (WHERE state = 'delivered') || '/' || count(*) FROM webhook_deliveries", url: url) == "17/17" ? true : nil
        }
        #expect(Int(try pg.sql("SELECT min(attempts) FROM webhook_deliveries WHERE url LIKE '%/gated/down'", url: url)) ?? 0 >= 2)
        #expect(try pg.sql("SELECT max(attempts) FROM webhook_deliveries WHERE url NOT LIKE '%/gated/down'", url: url) == "1")

        // The outbox through the CLI of either node: listed, and one delivery sent again (same event id).
        let list = try nodes[1].cli(["webhooks", "list"])
        #expect(list.status == 0 && list.stdout.split(separator: "\n").count == 18 && list.stdout.contains("delivered\tvideo.ready\t\(good[0])"),
                "\(list.stdout) \(list.stderr)")
        #expect(!list.stdout.contains(Self.secret))
        #expect(try nodes[0].cli(["webhooks", "list", "--failed"]).stdout.split(separator: "\n").count == 1)
        let first = try pg.sql("SELECT id || ' ' || event_id FROM webhook_deliveries WHERE url LIKE '%/ok/ends' ORDER BY id LIMIT 1", url: url)
            .split(separator: " ").map(String.init)
        let again = try nodes[0].cli(["webhooks", "redeliver", first[0]])
        #expect(again.status == 0 && again.stdout.contains("queued for redelivery: \(first[0])"), "\(again.stderr)")
        let resent = try Self.delivered(receiver, path: "/ok/ends", count: 9)
        #expect(resent.filter { $0.eventID == first[1] }.count == 2)
        #expect(try nodes[1].cli(["webhooks", "redeliver", "999999"]).stderr.contains("no webhook delivery with id 999999"))
    }

    /// node0 takes a delivery and dies while the receiver holds its POST: once node0's lease on it runs out, node1
    /// sends it, and it counts as delivered once.
    @Test func aDeliveryWhoseNodeDiedMidPostIsSentByAnotherNode() throws {
        let pg = try PostgresServer.shared.get()
        let url = try pg.database()
        let receiver = try WebhookReceiver(secrets: [Self.secret])
        receiver.close("held")
        let nodes = try MultiNodeTests.nodes(2, url: url, extraTOML: Self.toml(receiver, paths: [("/hang/held", ["video.failed"])],
                                                                                 extra: "webhook_timeout_seconds = 3"))
        defer { for n in nodes.reversed() { n.resume(); n.cleanUp() } }
        for n in nodes { try n.start() }
        nodes[1].pause()  // node0 alone claims the drop and takes its delivery
        try nodes[0].writeSidecar(["title": " "], to: nodes[0].incoming + "/bad.mp4.json")
        _ = try eventually("node0's POST to be held") { receiver.receipts().contains { $0.path == "/hang/held" } ? true : nil }
        nodes[0].kill9()
        nodes[1].resume()
        receiver.open("held")

        let got = try Self.delivered(receiver, path: "/hang/held", count: 1, timeout: 30)
        #expect(got.map(\.status) == [0, 204] && got.allSatisfy(\.valid) && got[0].eventID == got[1].eventID, "\(got.map(\.summary))")
        _ = try eventually("the row to say delivered") { () -> Bool? in
            try pg.sql("SELECT state || ' ' || attempts FROM webhook_deliveries", url: url) == "delivered 1" ? true : nil
        }
        #expect(nodes[1].logText().contains("webhook delivered"))
    }
}
