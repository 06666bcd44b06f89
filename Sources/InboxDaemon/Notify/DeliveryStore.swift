import Foundation
import GRDB
import Store

/// The outbox as the delivery service works it: the SQLite file's (`JobStore`, one node) or the shared PostgreSQL
/// store's (`PGJobStore`, where several nodes work one outbox and each delivery must go out from one of them).
protocol DeliveryStore: Sendable {
    /// Due deliveries, first in line for their video and URL, oldest first. On the shared store they are taken: no
    /// other node gets them until this one records the attempt or its lease on them runs out (it died).
    func takeDueDeliveries(limit: Int) async throws -> [WebhookDeliveryRow]
    /// When the next first-in-line pending delivery is due (nil: none pending).
    func nextDeliveryDue() async throws -> String?
    /// A 2xx answer.
    func markDelivered(_ d: WebhookDeliveryRow, status: Int, at: String) async throws
    /// Any other outcome: tried again at `next`, or given up (`next` nil).
    func markAttemptFailed(_ d: WebhookDeliveryRow, status: Int?, error: String, next: String?) async throws
}

extension JobStore: DeliveryStore {
    func takeDueDeliveries(limit: Int) async throws -> [WebhookDeliveryRow] {
        try await pool.read { db in try WebhookQueries.due(db, now: Timestamp.string(), limit: limit) }
    }

    func nextDeliveryDue() async throws -> String? {
        try await pool.read { db in try WebhookQueries.nextDue(db) }
    }

    func markDelivered(_ d: WebhookDeliveryRow, status: Int, at: String) async throws {
        guard let id = d.id else { return }
        try await pool.write { db in try WebhookQueries.markDelivered(db, id: id, status: status, now: at) }
    }

    func markAttemptFailed(_ d: WebhookDeliveryRow, status: Int?, error: String, next: String?) async throws {
        guard let id = d.id else { return }
        try await pool.write { db in try WebhookQueries.markAttemptFailed(db, id: id, status: status, error: error, next: next) }
    }
}
