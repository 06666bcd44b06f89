import Foundation
import GRDB
import HTTPKit
import Hummingbird
import Store

/// The seed's status answer plus the pipeline's finer state.
public struct StatusResponse: ResponseEncodable, Equatable, Sendable {
    public var video_id: String
    public var status: String
    public var title: String
    public var created_at: String
    public var phase: String
    public var progress: Double
    public var error: String?
    /// Why a failed job failed (`FailureReason`), null otherwise.
    public var failure_reason: String?
    /// Attempts so far (counted before each starts).
    public var attempts: Int
    /// When a job in phase `retrying` runs again; null otherwise.
    public var next_attempt_at: String?
    public var video_url: String
    public var thumbnail_url: String
    public var updated_at: String
    /// Seconds to ready from the progress rate so far; nil when unknown (see `ETA`).
    public var eta_s: Double?

    public init(_ row: VideoRow, now: Date = Date()) {
        video_id = row.video_id
        status = row.status
        title = row.title
        created_at = row.created_at
        phase = row.phase
        progress = row.progress
        error = row.error
        failure_reason = row.failure_reason
        attempts = row.attempts
        next_attempt_at = row.next_attempt_at
        video_url = row.video_url
        thumbnail_url = row.thumbnail_url
        updated_at = row.updated_at
        eta_s = ETA.seconds(for: row, now: now)
    }

    /// From a row of the columns `StatusStore.status` selects.
    init(row r: Row, now: Date = Date()) {
        video_id = r["video_id"]
        status = r["status"]
        title = r["title"]
        created_at = r["created_at"]
        phase = r["phase"]
        progress = r["progress"]
        error = r["error"]
        failure_reason = r["failure_reason"]
        attempts = r["attempts"]
        next_attempt_at = r["next_attempt_at"]
        video_url = r["video_url"]
        thumbnail_url = r["thumbnail_url"]
        updated_at = r["updated_at"]
        eta_s = ETA.seconds(status: status, progress: progress, startedAt: r["started_at"], now: now)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(video_id, forKey: .video_id)
        try c.encode(status, forKey: .status)
        try c.encode(title, forKey: .title)
        try c.encode(created_at, forKey: .created_at)
        try c.encode(phase, forKey: .phase)
        try c.encode(progress, forKey: .progress)
        try c.encode(error, forKey: .error) // explicit null: clients test `error == null`
        try c.encode(failure_reason, forKey: .failure_reason)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(next_attempt_at, forKey: .next_attempt_at)
        try c.encode(video_url, forKey: .video_url)
        try c.encode(thumbnail_url, forKey: .thumbnail_url)
        try c.encode(updated_at, forKey: .updated_at)
        try c.encode(eta_s, forKey: .eta_s)
    }

    enum CodingKeys: String, CodingKey {
        case video_id, status, title, created_at, phase, progress, error, failure_reason, attempts, next_attempt_at, video_url,
             thumbnail_url, updated_at, eta_s
    }
}

/// Read-only routes over one video, no auth (as the seed): the old front end polls `/status` every 2–3 s.
public enum StatusRoutes {
    public static func register<Context: RequestContext>(on router: Router<Context>, store: StatusStore) {
        router.get("/healthz") { _, _ in
            _ = try await store.db.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
            return ["status": "ok"]
        }
        router.get("/api/videos/{video_id}/status") { _, context -> StatusResponse in
            let id = try APIError.validateID(try context.parameters.require("video_id"))
            guard let status = try await store.status(id) else { throw APIError.notFound(id) }
            return status
        }
        router.get("/api/videos/{video_id}") { _, context -> RowJSON in
            let id = try APIError.validateID(try context.parameters.require("video_id"))
            guard let row = try await store.videoJSON(id) else { throw APIError.notFound(id) }
            return row
        }
    }
}
