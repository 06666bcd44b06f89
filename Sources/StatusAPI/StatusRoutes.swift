import Foundation
import GRDB
import HTTPKit
import Hummingbird
import Store

/// The seed's status answer plus the pipeline's finer state.
public struct StatusResponse: ResponseEncodable, Equatable, Sendable {
    public var videoID: String
    public var status: JobStatus
    public var title: String
    public var createdAt: String
    public var phase: JobPhase
    public var progress: Double
    public var error: String?
    /// Why a failed job failed, null otherwise.
    public var failureReason: FailureReason?
    /// Attempts so far (counted before each starts).
    public var attempts: Int
    /// When a job in phase `retrying` runs again; null otherwise.
    public var nextAttemptAt: String?
    public var videoURL: String
    public var thumbnailURL: String
    /// The master playlist of the segments published so far, once there is one (kept when ready).
    public var previewURL: String?
    /// When the preview first became playable.
    public var playableAt: String?
    public var updatedAt: String
    /// Seconds to ready from the progress rate so far; nil when unknown (see `ETA`).
    public var etaS: Double?

    public init(_ row: VideoRow, now: Date = Date()) {
        videoID = row.videoID
        status = row.status
        title = row.title
        createdAt = row.createdAt
        phase = row.phase
        progress = row.progress
        error = row.error
        failureReason = row.failureReason
        attempts = row.attempts
        nextAttemptAt = row.nextAttemptAt
        videoURL = row.videoURL
        thumbnailURL = row.thumbnailURL
        previewURL = row.previewURL
        playableAt = row.playableAt
        updatedAt = row.updatedAt
        etaS = ETA.seconds(for: row, now: now)
    }

    /// From a row of the columns `VideoQueries.statusColumns` selects; a state value outside the enums throws.
    init(row r: Row, now: Date = Date()) throws {
        videoID = r["video_id"]
        status = try r.decode(forColumn: "status")
        title = r["title"]
        createdAt = r["created_at"]
        phase = try r.decode(forColumn: "phase")
        progress = r["progress"]
        error = r["error"]
        failureReason = try r.decode(forColumn: "failure_reason")
        attempts = r["attempts"]
        nextAttemptAt = r["next_attempt_at"]
        videoURL = r["video_url"]
        thumbnailURL = r["thumbnail_url"]
        previewURL = r["preview_url"]
        playableAt = r["playable_at"]
        updatedAt = r["updated_at"]
        etaS = ETA.seconds(status: status, progress: progress, startedAt: r["started_at"], now: now)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(videoID, forKey: .videoID)
        try c.encode(status, forKey: .status)
        try c.encode(title, forKey: .title)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(phase, forKey: .phase)
        try c.encode(progress, forKey: .progress)
        try c.encode(error, forKey: .error) // explicit null: clients test `error == null`
        try c.encode(failureReason, forKey: .failureReason)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(nextAttemptAt, forKey: .nextAttemptAt)
        try c.encode(videoURL, forKey: .videoURL)
        try c.encode(thumbnailURL, forKey: .thumbnailURL)
        try c.encode(previewURL, forKey: .previewURL)
        try c.encode(playableAt, forKey: .playableAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(etaS, forKey: .etaS)
    }

    enum CodingKeys: String, CodingKey {
        case videoID = "video_id", status, title, createdAt = "created_at", phase, progress, error
        case failureReason = "failure_reason", attempts, nextAttemptAt = "next_attempt_at", videoURL = "video_url"
        case previewURL = "preview_url", playableAt = "playable_at"
        case thumbnailURL = "thumbnail_url", updatedAt = "updated_at", etaS = "eta_s"
    }
}

/// Read-only routes over one video, no auth (as the seed): the old front end polls `/status` every 2–3 s.
public enum StatusRoutes {
    public static func register<Context: RequestContext>(on router: Router<Context>, store: some StatusReading,
                                                         health: [String: String] = [:]) {
        let healthy = health.merging(["status": "ok"]) { $1 }
        router.get("/healthz") { _, _ in
            try await store.ping()
            return healthy
        }
        // Strong ETag of the exact bytes; `If-None-Match` with it → 304, no body. `no-cache`: a cache must revalidate.
        router.get("/api/videos/{video_id}/status") { request, context -> Response in
            let id = try APIError.validateID(try context.parameters.require("video_id"))
            guard let answer = try await store.statusAnswer(id, now: Date()) else { throw APIError.notFound(id) }
            var headers: HTTPFields = [.eTag: answer.tag, .cacheControl: "no-cache"]
            if let ifNoneMatch = request.headers[.ifNoneMatch], EntityTag.ifNoneMatch(ifNoneMatch, matches: answer.tag) {
                return Response(status: .notModified, headers: headers)
            }
            headers[.contentType] = "application/json; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: answer.body))
        }
        router.get("/api/videos/{video_id}") { _, context -> RowJSON in
            let id = try APIError.validateID(try context.parameters.require("video_id"))
            guard let row = try await store.videoJSON(id) else { throw APIError.notFound(id) }
            return row
        }
    }
}
