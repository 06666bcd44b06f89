import Foundation
import GRDB
import Store
import TestSupport
import Testing

/// The webhook outbox on a real db: a video's deliveries to one URL go out in order, a later one waits while an
/// earlier one is pending (in backoff too), and one given up lets the next go.
@Suite struct WebhookQueriesTests {
    let dir: TempDir
    let pool: DatabasePool

    init() throws {
        dir = try TempDir()
        pool = try StoreDatabase.openWriter(path: dir.path + "/w.db")
    }

    private func queue(_ event: WebhookEvent, video: String, url: String, at: String) throws {
        try pool.write { db in
            try WebhookQueries.enqueue(db, WebhookDeliveryRow(
                eventID: UUID().uuidString, event: event, videoID: video, url: url, origin: .webhook, body: "{}",
                createdAt: at, retryUntil: "2030-01-02T00:00:00Z"))
        }
    }

    private func due(_ now: String) throws -> [String] {
        try pool.read { try WebhookQueries.due($0, now: now, limit: 10) }.map { "\($0.videoID) \($0.event) \($0.url)" }
    }

    @Test func laterEventsWaitForEarlierOnesOfTheSameVideoAndURL() throws {
        defer { dir.remove() }
        let t0 = "2030-01-01T00:00:00Z"
        try queue(.processing, video: "a", url: "u1", at: t0)
        try queue(.ready, video: "a", url: "u1", at: t0)
        try queue(.ready, video: "a", url: "u2", at: t0)
        try queue(.ready, video: "b", url: "u1", at: t0)
        #expect(try due(t0) == ["a video.processing u1", "a video.ready u2", "b video.ready u1"])

        // The first fails and backs off: the ready behind it still waits, and the service sleeps until the retry.
        try pool.write { try WebhookQueries.markAttemptFailed($0, id: 1, status: 503, error: "HTTP 503", next: "2030-01-01T00:10:00Z") }
        #expect(try due("2030-01-01T00:05:00Z") == ["a video.ready u2", "b video.ready u1"])
        try pool.write { db in
            try WebhookQueries.markDelivered(db, id: 3, status: 200, now: t0)
            try WebhookQueries.markDelivered(db, id: 4, status: 204, now: t0)
        }
        #expect(try pool.read { try WebhookQueries.nextDue($0) } == "2030-01-01T00:10:00Z")

        // Given up: the next one goes.
        try pool.write { try WebhookQueries.markAttemptFailed($0, id: 1, status: nil, error: "gave up", next: nil) }
        #expect(try due("2030-01-01T00:05:00Z") == ["a video.ready u1"])
        let failed = try pool.read { try WebhookQueries.list($0, failedOnly: true, limit: 10) }
        #expect(failed.map(\.id) == [1] && failed[0].attempts == 2 && failed[0].state == .failed && failed[0].lastError == "gave up")

        // Redelivered: pending again, and first in line once more.
        #expect(try pool.write { try WebhookQueries.redeliver($0, id: 1, now: t0, retryUntil: "2030-01-03T00:00:00Z") })
        #expect(try due(t0) == ["a video.processing u1"])
        #expect(try pool.write { try WebhookQueries.redeliver($0, id: 99, now: t0, retryUntil: t0) } == false)
    }
}
