import Foundation
import TestSupport
import Testing

/// Webhooks and `notify_url` against a real receiver on 127.0.0.1 that checks every signature: durable deliveries
/// retried with backoff, surviving a restart, in order per video, and the SSRF guard on every target.
@Suite(.serialized) struct WebhookTests {
    static let secret = "whsec_test_1"
    static let notifySecret = "notify_test_2"

    /// A daemon whose `[[webhooks]]` point at `receiver` (`paths`: path → events), with the loopback allow-listed as
    /// URL-ingest tests do, and backoff bases small enough for tests.
    private func daemon(_ receiver: WebhookReceiver, paths: [(String, [String])], notify: Bool = false,
                        extra: String = "", allowLoopback: Bool = true, host: String = "127.0.0.1") throws -> DaemonHarness {
        var options = DaemonHarness.Options()
        let hooks = Self.hooksTOML(receiver, paths: paths, host: host)
        options.extraTOML = """
            webhook_backoff_base_seconds = 0.2
            webhook_backoff_max_seconds = 1
            webhook_timeout_seconds = 5
            \(notify ? "notify_url_secret = \"\(Self.notifySecret)\"" : "")
            \(extra)
            [url_ingest]
            \(allowLoopback ? "allow = [\"127.0.0.1\"]" : "")
            \(hooks)
            """
        let d = try DaemonHarness(options)
        try d.start()
        return d
    }

    /// `[[webhooks]]` tables pointing at `receiver` (path → events), signed with `secret`.
    static func hooksTOML(_ receiver: WebhookReceiver, paths: [(String, [String])], host: String = "127.0.0.1") -> String {
        paths.map { path, events in
            """
            [[webhooks]]
            url = "http://\(host):\(receiver.port)\(path)"
            secret = "\(secret)"
            events = [\(events.map { "\"\($0)\"" }.joined(separator: ", "))]
            """
        }.joined(separator: "\n")
    }

    private func receipts(_ r: WebhookReceiver, path: String, delivered count: Int, timeout: Double = 60) throws -> [WebhookReceiver.Receipt] {
        try eventually(timeout: timeout, "\(count) deliveries to \(path)") { () -> [WebhookReceiver.Receipt]? in
            let got = r.receipts().filter { $0.path == path }
            return got.filter(\.delivered).count >= count ? got : nil
        }
    }

    @Test func aJobsEventsArriveSignedInOrderAfterFailedAttempts() throws {
        let receiver = try WebhookReceiver(secrets: [Self.secret])
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2, name: "hook.mp4")
        let all = ["video.processing", "video.ready", "video.failed"]
        let d = try daemon(receiver, paths: [("/fail/3/all", all), ("/ok/ends", ["video.ready", "video.failed"])])
        defer { d.cleanUp() }
        try d.drop(media: src, as: "hook.mp4", sidecar: ["title": "hooked"])
        let id = try d.videoID(title: "hooked")
        #expect(try d.waitFor(id)["status"] as? String == "ready")

        // The terminal-events URL gets exactly one delivery: video.ready, with the status answer as it was then.
        let ends = try receipts(receiver, path: "/ok/ends", delivered: 1)
        #expect(ends.count == 1 && ends[0].event == "video.ready", "\(ends.map(\.event))")
        #expect(ends[0].valid, "signature: \(ends[0].summary)")
        #expect(ends[0].contentType == "application/json")
        #expect(ends[0].body["type"] as? String == "video.ready")
        #expect(ends[0].data["video_id"] as? String == id && ends[0].data["status"] as? String == "ready", "\(ends[0].body)")
        #expect((ends[0].data["video_url"] as? String ?? "").hasSuffix("/master.m3u8"))

        // Every phase change went to the other URL, whose first 3 POSTs failed: each later event waited for the one
        // before it, so the delivered ones arrive in the audit log's order and ready comes last.
        // ("playable: …", the live preview's audit entry, is no phase change and sends nothing.)
        let phaseChanges = "video_id='\(id)' AND status='processing' AND coalesce(message, '') NOT LIKE 'playable: %'"
        let phases = try d.sql("SELECT count(*) FROM events WHERE \(phaseChanges)")
        let expected = (Int(phases) ?? 0) + 1
        let got = try receipts(receiver, path: "/fail/3/all", delivered: expected)
        #expect(got.allSatisfy { $0.valid }, "every POST, failed ones included, is signed: \(got.map { $0.summary })")
        #expect(got.prefix(3).allSatisfy { $0.status == 503 } && got.count == expected + 3)
        let delivered = got.filter(\.delivered)
        #expect(delivered.map(\.event) == Array(repeating: "video.processing", count: expected - 1) + ["video.ready"],
                "\(delivered.map(\.event))")
        let sentPhases = delivered.dropLast().map { $0.data["phase"] as? String ?? "?" }
        let loggedPhases = try d.sql("SELECT phase FROM events WHERE \(phaseChanges) ORDER BY id")
            .split(separator: "\n").map(String.init)
        #expect(sentPhases == loggedPhases)
        #expect(delivered.map { Int($0.deliveryID) ?? 0 } == delivered.map { Int($0.deliveryID) ?? 0 }.sorted())
        // The same event has one id at every URL.
        #expect(delivered.last?.eventID == ends[0].eventID && ends[0].body["id"] as? String == ends[0].eventID)

        // The outbox as admins see it.
        #expect(try d.sql("SELECT attempts || ' ' || state FROM webhook_deliveries WHERE url LIKE '%/fail/3/all' ORDER BY id LIMIT 1") == "4 delivered")
        #expect(try d.sql("SELECT count(*) FROM webhook_deliveries WHERE state != 'delivered'") == "0")
        let list = try d.cli(["webhooks", "list"])
        #expect(list.status == 0 && list.stdout.contains("delivered\tvideo.ready\t\(id)"), "\(list.stdout)\(list.stderr)")
        #expect(!list.stdout.contains(Self.secret))
        #expect(!d.logText().contains(Self.secret), "the secret is never logged")
        #expect(d.logText().contains("webhook delivery failed; retrying"))
    }

    @Test func aPendingDeliverySurvivesARestartAndIsRedeliveredOnRequest() throws {
        let receiver = try WebhookReceiver(secrets: [Self.secret])
        receiver.close("gate")
        let d = try daemon(receiver, paths: [("/gated/gate", ["video.failed"])])
        defer { d.cleanUp() }
        // A sidecar that fails at once (blank title) is a failed job without a conversion: one video.failed event.
        try d.writeSidecar(["title": " "], to: d.incoming + "/bad.mp4.json")
        _ = try eventually("a refused attempt") { () -> Bool? in
            receiver.receipts().contains { $0.path == "/gated/gate" && $0.status == 503 } ? true : nil
        }
        #expect(d.stop() == 0)
        let pending = try d.sql("SELECT state || ' ' || (attempts >= 1) || ' ' || last_status FROM webhook_deliveries")
        #expect(pending == "pending 1 503", "pending across the restart: \(pending)")
        let before = receiver.receipts().count
        receiver.open("gate")
        try d.start()
        let done = try receipts(receiver, path: "/gated/gate", delivered: 1)
        let last = try #require(done.last)
        #expect(done.count > before && done.filter { $0.delivered }.count == 1)
        #expect(last.valid && last.event == "video.failed", "signed anew after the restart: \(last.summary)")
        #expect(last.data["failure_reason"] as? String == "sidecar", "\(last.body)")
        _ = try eventually("the row to say delivered") { () -> Bool? in
            (try? d.sql("SELECT state FROM webhook_deliveries")) == "delivered" ? true : nil
        }

        // An admin sends it again: same event id, pending then delivered once more.
        let deliveryID = try d.sql("SELECT id FROM webhook_deliveries")
        let r = try d.cli(["webhooks", "redeliver", deliveryID])
        #expect(r.status == 0 && r.stdout.contains("queued for redelivery: \(deliveryID)"), "\(r.stderr)")
        let again = try receipts(receiver, path: "/gated/gate", delivered: 2)
        #expect(again.filter { $0.delivered }.map { $0.eventID } == [last.eventID, last.eventID])
        let unknown = try d.cli(["webhooks", "redeliver", "999999"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no webhook delivery with id 999999"), "\(unknown.stderr)")
    }

    @Test func aWebhookThatNeverAnswersIsGivenUpAfterTheRetryWindow() throws {
        let receiver = try WebhookReceiver(secrets: [Self.secret])
        receiver.close("never")
        // 0.0005 h = 1.8 s of retries.
        let d = try daemon(receiver, paths: [("/gated/never", ["video.failed"])], extra: "webhook_retry_hours = 0.0005")
        defer { d.cleanUp() }
        try d.writeSidecar(["title": " "], to: d.incoming + "/bad.mp4.json")
        let state = try eventually("the delivery to be given up") { () -> String? in
            let s = try? d.sql("SELECT state || '|' || last_error FROM webhook_deliveries")
            return s?.hasPrefix("failed|") == true ? s : nil
        }
        #expect(state.contains("gave up after") && state.contains("HTTP 503"), "\(state)")
        let failed = try d.cli(["webhooks", "list", "--failed"])
        #expect(failed.status == 0 && failed.stdout.contains("\tfailed\tvideo.failed\t"), "\(failed.stdout)")
        #expect(d.logText().contains("webhook delivery given up"))
    }

    @Test func notifyURLTellsThePartnerWhenItsDropEnds() throws {
        let receiver = try WebhookReceiver(secrets: [Self.secret, Self.notifySecret])
        let media = try MediaFactory()
        let junk = try media.randomBytes(named: "partner.mp4")
        let d = try daemon(receiver, paths: [], notify: true)
        defer { d.cleanUp() }
        try d.drop(media: junk, as: "partner.mp4", sidecar: ["title": "partner drop", "notify_url": "\(receiver.baseURL)/ok/partner"])
        let id = try d.videoID(title: "partner drop")
        #expect(try d.waitFor(id)["status"] as? String == "failed")
        let got = try receipts(receiver, path: "/ok/partner", delivered: 1)
        #expect(got.count == 1 && got[0].event == "video.failed", "only the end is notified: \(got.map(\.event))")
        #expect(got[0].valid && got[0].secret == 1, "signed with notify_url_secret")
        #expect(got[0].data["video_id"] as? String == id && got[0].data["failure_reason"] as? String == "unreadable_media")

        // An upload may carry one too (here the raw PUT's query); it hears `video.ready`.
        let token = try ReceiverRig.addUser(d, "partner", ["--upload"])
        let src = try media.h264AAC(seconds: 1, name: "up.mp4")
        let uploadID = UUID().uuidString.lowercased()
        let notify = "\(receiver.baseURL)/ok/upload".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let put = try CurlResult.run(["-T", src, "-H", "Content-Type: video/mp4",
                                      "\(d.baseURL)/api/videos/\(uploadID)/file?title=up&notify_url=\(notify)"], token: token)
        #expect(put.status == 202, "\(put.body)")
        #expect(try d.waitFor(uploadID)["status"] as? String == "ready")
        let ready = try receipts(receiver, path: "/ok/upload", delivered: 1)
        #expect(ready.map(\.event) == ["video.ready"] && ready[0].valid && ready[0].secret == 1, "\(ready.map(\.event))")
        #expect(try d.sql("SELECT json_extract(sidecar, '$.notify_url') FROM videos WHERE video_id='\(uploadID)'") == "\(receiver.baseURL)/ok/upload")
    }

    @Test func privateAddressesAreRefusedBeforeAnythingIsSent() throws {
        // [[webhooks]]: a clear start-up error naming the key and the address.
        var options = DaemonHarness.Options()
        options.extraTOML = """
            [[webhooks]]
            url = "http://10.20.30.40/hook"
            secret = "s"
            """
        let bad = try DaemonHarness(options)
        defer { bad.cleanUp() }
        let start = try bad.runToExit()
        #expect(start.status == 1)
        #expect(start.output.contains("config key 'webhooks[0].url': refused: 10.20.30.40 is a private (10.0.0.0/8) address"), "\(start.output)")

        // notify_url: a drop fails with url_refused; an upload is a 400 naming the field. The loopback is allowed,
        // 192.168/16 is not.
        let receiver = try WebhookReceiver(secrets: [Self.notifySecret])
        let d = try daemon(receiver, paths: [], notify: true)
        defer { d.cleanUp() }
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1, name: "p.mp4")
        try d.drop(media: src, as: "p.mp4", sidecar: ["title": "private notify", "notify_url": "http://192.168.7.7/x"])
        let j = try d.waitFor(try d.videoID(title: "private notify"))
        #expect(j["status"] as? String == "failed" && j["failure_reason"] as? String == "url_refused", "\(j)")
        #expect((j["error"] as? String ?? "").contains("sidecar field 'notify_url' refused: 192.168.7.7 is a private (192.168.0.0/16) address"), "\(j)")

        let token = try ReceiverRig.addUser(d, "partner", ["--upload"])
        let put = try CurlResult.run(["-X", "PUT", "-H", "Content-Type: video/mp4", "--data-binary", "@\(src)",
                                      "\(d.baseURL)/api/videos/\(UUID().uuidString.lowercased())/file?title=x&notify_url=http%3A%2F%2Flocalhost%2Fh"],
                                     token: token)
        #expect(put.status == 400, "\(put.body)")
        #expect((put.json?["detail"] as? String ?? "").contains("'notify_url' refused: localhost: 127.0.0.1 is a loopback address"), "\(put.body)")
        let ingest = try CurlResult.run(["-H", "Content-Type: application/json", "-d",
                                         #"{"url":"http://127.0.0.1:1/a.mp4","title":"t","notify_url":"http://169.254.169.254/latest"}"#,
                                         "\(d.baseURL)/api/videos/youtube"], token: token)
        #expect(ingest.status == 400 && ingest.body.contains("link-local"), "\(ingest.body)")
        #expect(receiver.receipts().isEmpty)
    }

    /// A host name passes the config check, but the address it resolves to is judged when curl connects: this
    /// machine's own name resolves to the loopback, which the default guard refuses, so nothing is sent and the
    /// delivery fails at once, without retries.
    @Test func aHostNameThatResolvesToALoopbackAddressIsRefusedAtConnectTime() throws {
        let host = try Shell.run("hostname", []).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let resolved = try Shell.run("getent", ["ahostsv4", host]).stdout
        guard resolved.hasPrefix("127.") else {
            print("[webhooks] skipped: this machine's name \(host) does not resolve to 127.x (\(resolved)), so there is no name to test the connect-time check with")
            return
        }
        let receiver = try WebhookReceiver(secrets: [Self.secret])
        let d = try daemon(receiver, paths: [("/ok/dns", ["video.failed"])], allowLoopback: false, host: host)
        defer { d.cleanUp() }
        try d.writeSidecar(["title": " "], to: d.incoming + "/bad.mp4.json")
        let state = try eventually("the delivery to be refused") { () -> String? in
            let s = try? d.sql("SELECT state || '|' || attempts || '|' || last_error FROM webhook_deliveries")
            return s?.hasPrefix("failed|") == true ? s : nil
        }
        #expect(state.hasPrefix("failed|1|refused: 127.0.0.1 is a loopback address"), "\(state)")
        #expect(receiver.receipts().isEmpty)
    }

    @Test func notifyURLWithoutASecretIsRefused() throws {
        let receiver = try WebhookReceiver(secrets: [Self.secret])
        let d = try daemon(receiver, paths: [])
        defer { d.cleanUp() }
        let token = try ReceiverRig.addUser(d, "p", ["--upload"])
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1, name: "n.mp4")
        let r = try CurlResult.run(["-F", "video=@\(src)", "-F", "title=n", "-F", "notify_url=\(receiver.baseURL)/ok/x", "\(d.baseURL)/api/videos/"],
                                   token: token)
        #expect(r.status == 400 && r.body.contains("notify_url_secret"), "\(r.status) \(r.body) \(r.trace.suffix(800))")
    }
}

extension WebhookReceiver.Receipt {
    var summary: String { "\(event) \(status) valid=\(valid)" }
}
