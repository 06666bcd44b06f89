import Foundation
import GRDB
import Store

/// Turns a job's state change into webhook deliveries, inside the transaction that makes the change: the change
/// and its notifications commit together or not at all, so a crash can neither lose a notification nor send one
/// for a change that never happened. The body is fixed here (a snapshot of the status answer as of this change).
struct WebhookOutbox: Sendable {
    let settings: WebhookSettings
    /// The `/status` answer for a row, as JSON (the status API's own encoder, so both read the same).
    let statusJSON: @Sendable (VideoRow) throws -> String
    /// Called once a transaction that queued deliveries has committed (wakes the delivery service).
    let onQueued: @Sendable () -> Void

    static let none = WebhookOutbox(settings: WebhookSettings(), statusJSON: { _ in "{}" }, onQueued: {})

    /// Queues `event` about `videoID` for every URL that wants it: the `[[webhooks]]` entries listing it, and the
    /// job's own `notify_url` for `video.ready` and `video.failed`. Reads the row as the transaction now has it.
    func record(_ db: Database, videoID: String, event: WebhookEvent, now: Date = Date()) throws {
        guard wants(event), let row = try VideoQueries.row(db, videoID) else { return }
        let deliveries = try self.deliveries(event, about: row, now: now)
        guard !deliveries.isEmpty else { return }
        for d in deliveries { try WebhookQueries.enqueue(db, d) }
        let wake = onQueued
        db.afterNextTransaction { _ in wake() }
    }

    /// Whether any URL may want `event` (else the row need not even be read).
    func wants(_ event: WebhookEvent) -> Bool {
        settings.endpoints.contains { $0.events.contains(event) }
            || (WebhookSettings.notifyURLEvents.contains(event) && settings.notifyURLSecret != nil)
    }

    /// The deliveries of `event` about `row` as it is in the transaction making the change, one per URL wanting it,
    /// sharing one event id and one body (either store inserts them).
    func deliveries(_ event: WebhookEvent, about row: VideoRow, now: Date = Date()) throws -> [WebhookDeliveryRow] {
        var targets = settings.endpoints.filter { $0.events.contains(event) }.map { ($0.url, WebhookOrigin.webhook) }
        if WebhookSettings.notifyURLEvents.contains(event), settings.notifyURLSecret != nil, let url = Self.notifyURL(sidecar: row.sidecar) {
            targets.append((url, .notifyURL))
        }
        guard !targets.isEmpty else { return [] }
        let eventID = UUID().uuidString.lowercased()
        let created = Timestamp.string(now)
        let body = #"{"created_at":"\#(created)","data":\#(try statusJSON(row)),"id":"\#(eventID)","type":"\#(event.rawValue)"}"#
        let until = Timestamp.string(now.addingTimeInterval(settings.retryHours * 3600))
        return targets.map { url, origin in
            WebhookDeliveryRow(eventID: eventID, event: event, videoID: row.videoID, url: url, origin: origin, body: body,
                               createdAt: created, retryUntil: until)
        }
    }

    /// The `notify_url` a job's sidecar carries (checked at intake, so taken as is).
    static func notifyURL(sidecar: String?) -> String? {
        guard let sidecar, let object = try? JSONSerialization.jsonObject(with: Data(sidecar.utf8)) as? [String: Any] else { return nil }
        return object["notify_url"] as? String
    }
}
