import GRDB

/// What a webhook reports: a job's change, named as Mux and Stripe name theirs (`<object>.<event>`).
public enum WebhookEvent: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    /// A job in `processing` changed phase (queued, downloading, …, retrying): one per audit-log entry.
    case processing = "video.processing"
    case ready = "video.ready"
    case failed = "video.failed"
}

/// Where a delivery's URL came from, and so which secret signs it.
public enum WebhookOrigin: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    /// A `[[webhooks]]` entry of the config (signed with its `secret`).
    case webhook
    /// The job's own `notify_url` (sidecar or upload; signed with `notify_url_secret`).
    case notifyURL = "notify_url"
}

/// `webhook_deliveries.state`: pending until a 2xx answer (delivered) or until it is given up (failed).
public enum DeliveryState: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case pending, delivered, failed
}

/// One row of `webhook_deliveries`: one event for one URL. `body` is the JSON sent, fixed when the change was
/// committed (so a `video.processing` body shows the job as it was then, not as it is when the POST goes out).
public struct WebhookDeliveryRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "webhook_deliveries"

    public var id: Int64?
    /// The event's id, shared by its deliveries to every URL (receivers deduplicate by it).
    public var eventID: String
    public var event: WebhookEvent
    public var videoID: String
    public var url: String
    public var origin: WebhookOrigin
    public var body: String
    public var state: DeliveryState
    public var attempts: Int
    /// The HTTP status of the last attempt; null when it got no answer (refused, timed out, connection failed).
    public var lastStatus: Int?
    public var lastError: String?
    public var createdAt: String
    /// When the next attempt is due; null once delivered or given up.
    public var nextAttemptAt: String?
    /// Attempts stop after this time (`webhook_retry_hours` after it was queued, or after a redeliver).
    public var retryUntil: String
    public var deliveredAt: String?

    public enum CodingKeys: String, CodingKey {
        case id, eventID = "event_id", event, videoID = "video_id", url, origin, body, state, attempts
        case lastStatus = "last_status", lastError = "last_error", createdAt = "created_at"
        case nextAttemptAt = "next_attempt_at", retryUntil = "retry_until", deliveredAt = "delivered_at"
    }

    public init(eventID: String, event: WebhookEvent, videoID: String, url: String, origin: WebhookOrigin, body: String,
                createdAt: String, retryUntil: String) {
        self.id = nil
        self.eventID = eventID
        self.event = event
        self.videoID = videoID
        self.url = url
        self.origin = origin
        self.body = body
        self.state = .pending
        self.attempts = 0
        self.lastStatus = nil
        self.lastError = nil
        self.createdAt = createdAt
        self.nextAttemptAt = createdAt
        self.retryUntil = retryUntil
        self.deliveredAt = nil
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension WebhookEvent: CustomStringConvertible { public var description: String { rawValue } }
extension WebhookOrigin: CustomStringConvertible { public var description: String { rawValue } }
extension DeliveryState: CustomStringConvertible { public var description: String { rawValue } }
