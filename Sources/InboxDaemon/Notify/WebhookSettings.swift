import Foundation
import Pipeline
import Store

/// One `[[webhooks]]` entry. `description` leaves the secret out, so the entry can be logged or printed safely.
struct WebhookEndpoint: Sendable, Equatable, CustomStringConvertible {
    var url: String
    var secret: String
    var events: Set<WebhookEvent>

    var description: String { "webhook \(url) (\(events.map(\.rawValue).sorted().joined(separator: ", ")), secret hidden)" }
}

/// Everything about webhooks the config sets: the `[[webhooks]]` entries, the secret that signs per-video
/// `notify_url` deliveries, and how deliveries are retried (exponential backoff with jitter, as Mux does, for
/// `webhook_retry_hours`).
struct WebhookSettings: Sendable, Equatable {
    static let defaultEvents: Set<WebhookEvent> = [.ready, .failed]
    /// What a job's own `notify_url` is told: the end of the job, never its phases.
    static let notifyURLEvents: Set<WebhookEvent> = [.ready, .failed]

    var endpoints: [WebhookEndpoint] = []
    /// Signs deliveries to a sidecar's or upload's `notify_url`; without it a `notify_url` is refused at intake.
    var notifyURLSecret: String?
    var retryHours: Double = 24
    /// The first retry waits about this long; each further one twice as long, up to `backoffMaxSeconds`.
    var backoffBaseSeconds: Double = 10
    var backoffMaxSeconds: Double = 3600
    /// One POST (connect included) may take this long; longer counts as a failed attempt.
    var timeoutSeconds: Double = 10

    /// The wait before the next try after `attempts` failed ones: base · 2^(attempts-1), capped, then 50–100 % of
    /// that (jitter), so deliveries failed by one outage do not all come back at once.
    func delay(afterAttempts attempts: Int) -> Double {
        let full = min(backoffBaseSeconds * pow(2, Double(max(attempts, 1) - 1)), backoffMaxSeconds)
        return full * Double.random(in: 0.5...1.0)
    }

    /// The secret that signs a delivery; nil when the config no longer has one for it.
    func secret(for origin: WebhookOrigin, url: String) -> String? {
        switch origin {
        case .webhook: endpoints.first { $0.url == url }?.secret
        case .notifyURL: notifyURLSecret
        }
    }

    /// Why a job's `notify_url` is refused at intake (no secret to sign with, or an address the guard refuses);
    /// nil when it is accepted. `allow` is `[url_ingest] allow`, the one allow-list of outgoing requests.
    func notifyURLRefusal(_ url: String, allow: [String]) -> String? {
        guard notifyURLSecret != nil else {
            return "notify_url is not enabled on this server (the config has no notify_url_secret to sign it with)"
        }
        return WebhookPoster.refusal(forURL: url, allow: allow)
    }
}
