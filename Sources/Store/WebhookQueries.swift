import GRDB

/// Every statement over `webhook_deliveries` (the outbox): rows are queued inside the transaction of the state change
/// they report, and worked by the daemon's delivery service. A video's deliveries to one URL go out in the order they
/// were queued: a row is due only when no earlier row for the same video and URL is still pending.
public enum WebhookQueries {
    public static func enqueue(_ db: Database, _ row: WebhookDeliveryRow) throws {
        var r = row
        try r.insert(db)
    }

    /// Pending rows that no earlier pending row of the same video and URL holds back.
    private static let firstInLine = """
        d.state = ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                                    WHERE e.state = ? AND e.video_id = d.video_id AND e.url = d.url AND e.id < d.id)
        """

    /// First-in-line pending rows whose time has come, oldest first.
    public static func due(_ db: Database, now: String, limit: Int) throws -> [WebhookDeliveryRow] {
        try WebhookDeliveryRow.fetchAll(db, sql: """
            SELECT * FROM webhook_deliveries d WHERE \(firstInLine) AND d.next_attempt_at <= ? ORDER BY d.id LIMIT ?
            """, arguments: [DeliveryState.pending, DeliveryState.pending, now, limit])
    }

    /// When the next first-in-line row is due (nil when none is pending): how long the delivery service may sleep.
    /// Rows held back behind one in backoff do not count, or the service would wake for them all the time.
    public static func nextDue(_ db: Database) throws -> String? {
        try String.fetchOne(db, sql: "SELECT min(d.next_attempt_at) FROM webhook_deliveries d WHERE \(firstInLine)",
                            arguments: [DeliveryState.pending, DeliveryState.pending])
    }

    /// A 2xx answer.
    public static func markDelivered(_ db: Database, id: Int64, status: Int, now: String) throws {
        try db.execute(sql: """
            UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = NULL,
              next_attempt_at = NULL, delivered_at = ? WHERE id = ?
            """, arguments: [DeliveryState.delivered, status, now, id])
    }

    /// Any other outcome: tried again at `next`, or given up (`next` nil: failed for good).
    public static func markAttemptFailed(_ db: Database, id: Int64, status: Int?, error: String, next: String?) throws {
        try db.execute(sql: """
            UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?,
              next_attempt_at = ? WHERE id = ?
            """, arguments: [next == nil ? DeliveryState.failed : DeliveryState.pending, status, error, next, id])
    }

    /// Deliveries, newest first; only the failed ones with `failedOnly`.
    public static func list(_ db: Database, failedOnly: Bool, limit: Int) throws -> [WebhookDeliveryRow] {
        if failedOnly {
            return try WebhookDeliveryRow.fetchAll(db, sql: "SELECT * FROM webhook_deliveries WHERE state = ? ORDER BY id DESC LIMIT ?",
                                                   arguments: [DeliveryState.failed, limit])
        }
        return try WebhookDeliveryRow.fetchAll(db, sql: "SELECT * FROM webhook_deliveries ORDER BY id DESC LIMIT ?", arguments: [limit])
    }

    /// `inboxd webhooks redeliver`: the delivery is pending again, due now, with a fresh retry window (same body,
    /// same event id, so a receiver that got it before can tell). False when there is no such delivery.
    public static func redeliver(_ db: Database, id: Int64, now: String, retryUntil: String) throws -> Bool {
        try db.execute(sql: """
            UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, retry_until = ?, delivered_at = NULL WHERE id = ?
            """, arguments: [DeliveryState.pending, now, retryUntil, id])
        return db.changesCount > 0
    }
}
