import Foundation
@testable import InboxDaemon
import Store
import Testing

/// `[[webhooks]]`, `notify_url_secret` and the `webhook_*` keys as an operator writes them, and the signature and
/// backoff they lead to.
@Suite struct WebhookConfigTests {
    private func load(_ toml: String) throws -> Config {
        let dir = NSTemporaryDirectory() + "inboxd-webhook-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/inboxd.toml"
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return try Config.load(path: path, environment: [:])
    }

    private func error(_ toml: String) -> String {
        do {
            _ = try load(toml)
            return "no error"
        } catch { return "\(error)" }
    }

    @Test func entriesGetTheirEventsAndTheDefaultsAreMuxLike() throws {
        let c = try load("""
            webhook_backoff_base_seconds = 0.5
            notify_url_secret = "n"
            [[webhooks]]
            url = "https://hooks.example.com/inboxd"
            secret = "s1"
            [[webhooks]]
            url = "https://other.example.com/h?k=1"
            secret = "s2"
            events = ["video.processing", "video.ready"]
            """)
        let w = c.webhooks
        #expect(w.endpoints.map(\.url) == ["https://hooks.example.com/inboxd", "https://other.example.com/h?k=1"])
        #expect(w.endpoints[0].events == [.ready, .failed] && w.endpoints[1].events == [.processing, .ready])
        #expect(w.retryHours == 24 && w.backoffBaseSeconds == 0.5 && w.timeoutSeconds == 10 && w.notifyURLSecret == "n")
        #expect(w.secret(for: .webhook, url: "https://other.example.com/h?k=1") == "s2")
        #expect(w.secret(for: .webhook, url: "https://gone.example.com") == nil)
        #expect(!"\(w.endpoints[0])".contains("s1"), "an entry's description hides its secret")
    }

    @Test func badEntriesAreErrorsThatNameTheKey() {
        #expect(error("[[webhooks]]\nsecret = \"s\"\n") == "config key 'webhooks[0].url': required")
        #expect(error("[[webhooks]]\nurl = \"https://a.example\"\n") == "config key 'webhooks[0].secret': required (it signs every delivery)")
        #expect(error("[[webhooks]]\nurl = \"https://a.example\"\nsecret = \"s\"\nevents = [\"video.done\"]\n")
            == "config key 'webhooks[0].events': unknown event 'video.done' (expected video.processing, video.ready, video.failed)")
        #expect(error("[[webhooks]]\nurl = \"https://a.example\"\nsecret = \"s\"\nevent = [\"video.ready\"]\n") == "unknown config key 'webhooks[0].event'")
        #expect(error("[[webhooks]]\nurl = \"ftp://a.example/x\"\nsecret = \"s\"\n") == "config key 'webhooks[0].url': refused: ftp://a.example/x is not an http(s) URL with a host")
        #expect(error("[[webhooks]]\nurl = \"http://[::1]:9/x\"\nsecret = \"s\"\n") == "config key 'webhooks[0].url': refused: ::1 is a loopback address (add it to [url_ingest] allow to permit)")
        #expect(error("[[webhooks]]\nurl = \"http://localhost:9/x\"\nsecret = \"s\"\n").contains("refused: localhost: 127.0.0.1 is a loopback address"))
        #expect(error("notify_url_secret = \"\"\n") == "config key 'notify_url_secret': must not be empty")
    }

    @Test func theURLIngestAllowListLetsAPrivateReceiverIn() throws {
        let c = try load("[url_ingest]\nallow = [\"10.9.0.0/16\"]\n[[webhooks]]\nurl = \"http://10.9.1.2:8000/h\"\nsecret = \"s\"\n")
        #expect(c.webhooks.endpoints.count == 1)
        #expect(c.webhooks.notifyURLRefusal("http://10.9.1.2/x", allow: c.urlIngest.allow)?.contains("notify_url_secret") == true)
        var w = c.webhooks
        w.notifyURLSecret = "n"
        #expect(w.notifyURLRefusal("http://10.9.1.2/x", allow: c.urlIngest.allow) == nil)
        #expect(w.notifyURLRefusal("http://10.8.0.1/x", allow: c.urlIngest.allow) == "10.8.0.1 is a private (10.0.0.0/8) address (add it to [url_ingest] allow to permit)")
        #expect(w.notifyURLRefusal("https://partner.example.com/done", allow: []) == nil)
    }

    @Test func backoffDoublesWithJitterUpToTheCap() {
        var w = WebhookSettings()
        w.backoffBaseSeconds = 10
        w.backoffMaxSeconds = 60
        for (attempts, full) in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 60.0), (9, 60.0)] {
            let d = w.delay(afterAttempts: attempts)
            #expect(d >= full * 0.5 && d <= full, "attempt \(attempts): \(d)")
        }
    }

    /// Checked against Python's `hmac` (the README's receiver snippet): hex HMAC-SHA256(secret, "<t>.<body>").
    @Test func theSignatureIsHMACSHA256OfTimestampDotBody() {
        let header = WebhookSignature.header(secret: "Jefe", timestamp: 1_700_000_000, body: Array("what do ya want for nothing?".utf8))
        #expect(header == "t=1700000000,v1=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e")
        #expect(WebhookSignature.hex(secret: "Jefe", timestamp: 1_700_000_001, body: Array("what do ya want for nothing?".utf8))
            != "1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e", "the timestamp is signed")
    }

    @Test func logsShowURLsWithoutTheirQuery() {
        #expect(WebhookDeliverer.redacted("https://u:p@h.example/a/b?token=xyz") == "https://h.example/a/b?…")
    }
}
