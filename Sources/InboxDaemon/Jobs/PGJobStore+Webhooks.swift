import Foundation
import Logging
import PostgresNIO
import Store

extension WebhookOutbox {
    /// `record(_:videoID:event:)` on the shared store: the deliveries go into `webhook_deliveries` in the transaction of
    /// the change they report. No wake-up here: the change's NOTIFY (a trigger on `videos`) wakes the delivery service
    /// of every node once the transaction commits.
    func record(_ c: PostgresConnection, videoID: String, event: WebhookEvent, logger: Logger) async throws {
        guard wants(event), let row = try await PGJobStore.row(c, videoID, logger: logger) else { return }
        for d in try deliveries(event, about: row) {
            try await c.query("""
                INSERT INTO webhook_deliveries (event_id, event, video_id, url, origin, body, state, attempts, created_at,
                  next_attempt_at, retry_until)
                VALUES (\(d.eventID), \(d.event.rawValue), \(d.videoID), \(d.url), \(d.origin.rawValue), \(d.body), \(d.state.rawValue),
                  \(d.attempts), \(d.createdAt), \(d.nextAttemptAt), \(d.retryUntil))
                """, logger: logger)
        }
    }
}

/// The outbox on the shared store, worked by every node's delivery service: a node takes due deliveries with
/// `FOR UPDATE SKIP LOCKED` and, in the same transaction, moves their `next_attempt_at` past the time one POST may
/// take (`webhook_timeout_seconds` + `deliveryLeaseMargin`): that is its lease. Recording the attempt ends it; a node
/// that dies mid-POST leaves it to run out, and another node sends the delivery then. A video's deliveries to one URL
/// still go out in order (the first-in-line rule of `WebhookQueries`).
extension PGJobStore: DeliveryStore {
    static let deliveryLeaseMargin = 5
    static let deliveryColumns = """
        id, event_id, event, video_id, url, origin, body, state, attempts, last_status, last_error, created_at, \
        next_attempt_at, retry_until, delivered_at
        """
    private static let firstInLine = """
        d.state = 'pending' AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                                            WHERE e.state = 'pending' AND e.video_id = d.video_id AND e.url = d.url AND e.id < d.id)
        """

    func takeDueDeliveries(limit: Int) async throws -> [WebhookDeliveryRow] {
        let lease = Int(outbox.settings.timeoutSeconds.rounded(.up)) + Self.deliveryLeaseMargin
        return try await transaction { c, logger in
            try await Self.deliveries(c.query("""
                UPDATE webhook_deliveries w SET next_attempt_at = \(unescaped: Self.leaseText(lease))
                FROM (SELECT d.id FROM webhook_deliveries d
                      WHERE \(unescaped: Self.firstInLine) AND d.next_attempt_at <= \(unescaped: Self.nowText)
                      ORDER BY d.id LIMIT \(limit) FOR UPDATE SKIP LOCKED) due
                WHERE w.id = due.id
                RETURNING w.*
                """, logger: logger)).sorted { ($0.id ?? 0) < ($1.id ?? 0) }
        }
    }

    func nextDeliveryDue() async throws -> String? {
        for try await next in try await client.query("""
            SELECT min(d.next_attempt_at) FROM webhook_deliveries d WHERE \(unescaped: Self.firstInLine)
            """, logger: logger).decode(String?.self) {
            return next
        }
        return nil
    }

    /// Recorded only while the delivery is still the attempt this node took (same `attempts`): a node that outlived
    /// its lease does not count an attempt twice.
    func markDelivered(_ d: WebhookDeliveryRow, status: Int, at: String) async throws {
        try await client.query("""
            UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = \(status), last_error = NULL,
              next_attempt_at = NULL, delivered_at = \(at) WHERE id = \(d.id) AND state = 'pending' AND attempts = \(d.attempts)
            """, logger: logger)
    }

    func markAttemptFailed(_ d: WebhookDeliveryRow, status: Int?, error: String, next: String?) async throws {
        try await client.query("""
            UPDATE webhook_deliveries SET state = \(next == nil ? DeliveryState.failed.rawValue : DeliveryState.pending.rawValue),
              attempts = attempts + 1, last_status = \(status), last_error = \(error), next_attempt_at = \(next)
            WHERE id = \(d.id) AND state = 'pending' AND attempts = \(d.attempts)
            """, logger: logger)
    }

    /// `inboxd webhooks list`: deliveries, newest first; only the given-up ones with `failedOnly`.
    func deliveries(failedOnly: Bool, limit: Int) async throws -> [WebhookDeliveryRow] {
        try await Self.deliveries(client.query("""
            SELECT \(unescaped: Self.deliveryColumns) FROM webhook_deliveries
            WHERE \(failedOnly) = false OR state = 'failed' ORDER BY id DESC LIMIT \(limit)
            """, logger: logger))
    }

    /// `inboxd webhooks redeliver`: pending again, due now, a fresh retry window; false when there is no such delivery.
    func redeliver(_ id: Int64, now: String, retryUntil: String) async throws -> Bool {
        try await Self.changed(client.query("""
            UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = \(now), retry_until = \(retryUntil), delivered_at = NULL
            WHERE id = \(id) RETURNING id
            """, logger: logger)) > 0
    }

    /// Rows of `deliveryColumns`.
    private static func deliveries(_ rows: PostgresRowSequence) async throws -> [WebhookDeliveryRow] {
        var out: [WebhookDeliveryRow] = []
        for try await row in rows {
            let r = row.makeRandomAccess()
            func text(_ c: String) throws -> String { try r[c].decode(String.self) }
            func optional(_ c: String) throws -> String? { try r[c].decode(String?.self) }
            let id = try r["id"].decode(Int64.self)
            guard let e = WebhookEvent(rawValue: try text("event")), let o = WebhookOrigin(rawValue: try text("origin")),
                  let s = DeliveryState(rawValue: try text("state")) else {
                throw StoreError.cannotOpen(path: "PostgreSQL", reason: "webhook_deliveries row \(id) has an unknown event, origin or state")
            }
            var d = WebhookDeliveryRow(eventID: try text("event_id"), event: e, videoID: try text("video_id"), url: try text("url"), origin: o,
                                       body: try text("body"), createdAt: try text("created_at"), retryUntil: try text("retry_until"))
            d.id = id
            d.state = s
            d.attempts = try r["attempts"].decode(Int.self)
            d.lastStatus = try r["last_status"].decode(Int?.self)
            d.lastError = try optional("last_error")
            d.nextAttemptAt = try optional("next_attempt_at")
            d.deliveredAt = try optional("delivered_at")
            out.append(d)
        }
        return out
    }
}
