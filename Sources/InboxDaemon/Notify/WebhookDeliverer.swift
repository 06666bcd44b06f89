import Foundation
import Logging
import Pipeline
import ServiceLifecycle
import Store
import Synchronization

/// Works the `webhook_deliveries` outbox: POSTs each due delivery, signed, on a dedicated thread (curl, never the
/// cooperative pool); 2xx = delivered, anything else or no answer = tried again after an exponential backoff with
/// jitter, until its `retry_until`; an address the guard refuses fails at once. State lives in the db, so pending
/// deliveries survive restarts (on the shared store, another node's death too: its deliveries are taken again once
/// its lease on them runs out). It sleeps until the next due time (at most `idleWait`), and `signal` (rung by a
/// commit that queued deliveries, or on the shared store by any node's change) wakes it at once.
final class WebhookDeliverer: Service {
    static let idleWait: Duration = .seconds(1)
    static let batch = 16
    static let parallel = 4

    private let store: any DeliveryStore
    private let settings: WebhookSettings
    private let poster: WebhookPoster
    private let signal: ChangeSignal
    private let logger: Logger

    init(store: any DeliveryStore, settings: WebhookSettings, poster: WebhookPoster, signal: ChangeSignal, logger: Logger) {
        self.store = store
        self.settings = settings
        self.poster = poster
        self.signal = signal
        self.logger = logger
    }

    func run() async throws {
        let stopping = StopFlag()
        try? await cancelWhenGracefulShutdown {
            try await withTaskCancellationHandler {
                while !Task.isCancelled {
                    let mark = self.signal.mark
                    let due: [WebhookDeliveryRow]
                    do { due = try await self.store.takeDueDeliveries(limit: Self.batch) } catch {
                        // A store that is away for a moment (PostgreSQL restarting) stops nothing: pending rows wait.
                        if !Task.isCancelled { self.logger.error("cannot read the webhook outbox; retrying", metadata: ["error": "\(error)"]) }
                        await self.sleep(since: mark)
                        continue
                    }
                    if due.isEmpty {
                        await self.sleep(since: mark)
                        continue
                    }
                    await withTaskGroup(of: Void.self) { group in
                        var running = 0
                        for delivery in due {
                            if running == Self.parallel {
                                await group.next()
                                running -= 1
                            }
                            group.addTask { await self.deliver(delivery, stopping: stopping) }
                            running += 1
                        }
                    }
                }
            } onCancel: {
                stopping.set()
            }
        }
    }

    /// Until the next due delivery (whole seconds, as the db stores times), a wake-up, or `idleWait`.
    private func sleep(since mark: UInt64) async {
        var wait = Self.idleWait
        if let next = (try? await store.nextDeliveryDue()).flatMap({ $0 }).flatMap(Timestamp.date) {
            let seconds = next.timeIntervalSinceNow
            if seconds < 1 { wait = .milliseconds(Int64(max(seconds, 0.05) * 1000)) }
        }
        await signal.wait(since: mark, atMost: wait)
    }

    private func deliver(_ d: WebhookDeliveryRow, stopping: StopFlag) async {
        guard let id = d.id else { return }
        var meta: Logger.Metadata = [
            "webhook.id": "\(id)", "webhook.event": "\(d.event)", "job.id": "\(d.videoID)",
            "webhook.url": "\(Self.redacted(d.url))", "webhook.attempt": "\(d.attempts + 1)",
        ]
        guard let secret = settings.secret(for: d.origin, url: d.url) else {
            let why = d.origin == .webhook
                ? "\(Self.redacted(d.url)) is no longer a [[webhooks]] url in the config; not sent"
                : "notify_url_secret is no longer set in the config; not sent"
            await record(d, status: nil, error: why, next: nil, meta: meta)
            return
        }
        let body = Array(d.body.utf8)
        let timestamp = Int(Date().timeIntervalSince1970)
        let headers = [
            ("Content-Type", "application/json"), ("User-Agent", "inboxd/\(Inboxd.version)"),
            (WebhookSignature.headerName, WebhookSignature.header(secret: secret, timestamp: timestamp, body: body)),
            ("Inboxd-Event", d.event.rawValue), ("Inboxd-Event-Id", d.eventID), ("Inboxd-Delivery-Id", "\(id)"),
        ]
        let poster = self.poster
        let url = d.url
        let outcome = (try? await DedicatedThread.run(name: "inboxd-webhook") {
            poster.post(url: url, body: body, headers: headers) { stopping.isSet }
        }) ?? .failed("no thread to send it on")
        if stopping.isSet { return }  // not counted: the next start sends it again
        let now = Date()
        switch outcome {
        case .answered(let status) where (200..<300).contains(status):
            do {
                try await store.markDelivered(d, status: status, at: Timestamp.string(now))
                meta["http.status"] = "\(status)"
                logger.info("webhook delivered", metadata: meta)
            } catch {
                logger.error("cannot record a webhook delivery; it will be sent again", metadata: meta.merging(["error": "\(error)"]) { $1 })
            }
        case .answered(let status):
            await retryOrGiveUp(d, status: status, error: "HTTP \(status)", now: now, meta: meta)
        case .failed(let reason):
            await retryOrGiveUp(d, status: nil, error: reason, now: now, meta: meta)
        case .refused(let reason):
            await record(d, status: nil, error: "refused: \(reason)", next: nil, meta: meta)
        }
    }

    private func retryOrGiveUp(_ d: WebhookDeliveryRow, status: Int?, error: String, now: Date, meta: Logger.Metadata) async {
        let next = now.addingTimeInterval(settings.delay(afterAttempts: d.attempts + 1))
        let until = Timestamp.date(d.retryUntil) ?? now
        if next > until {
            await record(d, status: status, error: "gave up after \(d.attempts + 1) attempts: \(error)", next: nil, meta: meta)
        } else {
            await record(d, status: status, error: error, next: next, meta: meta)
        }
    }

    /// Records a failed attempt: retried at `next`, or given up (nil).
    private func record(_ d: WebhookDeliveryRow, status: Int?, error: String, next: Date?, meta: Logger.Metadata) async {
        var meta = meta
        meta["error"] = "\(error)"
        do {
            try await store.markAttemptFailed(d, status: status, error: error, next: next.map { Timestamp.string($0) })
        } catch {
            logger.error("cannot record a webhook attempt", metadata: meta.merging(["db.error": "\(error)"]) { $1 })
            return
        }
        if let next {
            meta["webhook.next_attempt_at"] = "\(Timestamp.string(next))"
            logger.warning("webhook delivery failed; retrying", metadata: meta)
        } else {
            logger.error("webhook delivery given up", metadata: meta)
        }
    }

    /// A URL for logs: scheme, host, port and path only (a query may carry a receiver's token).
    static func redacted(_ url: String) -> String {
        guard let c = URLComponents(string: url), let scheme = c.scheme, let host = c.host else { return "?" }
        let port = c.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(host)\(port)\(c.path)\(c.query == nil ? "" : "?…")"
    }
}
