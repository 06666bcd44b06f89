import GRDB

/// One row of `videos`: one job. Column names are the DESIGN.md contract; admins query them directly.
public struct VideoRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "videos"

    public var video_id: String
    public var title: String
    public var description: String
    public var user_id: String?
    public var username: String?
    public var status: String
    public var visibility: String
    public var phase: String
    public var progress: Double
    public var video_url: String
    public var thumbnail_url: String
    public var error: String?
    /// Why a failed job failed (a `FailureReason` raw value); null unless `status` is `failed`.
    public var failure_reason: String?
    public var attempts: Int
    /// When a job in phase `retrying` runs again (ISO 8601 UTC); null otherwise.
    public var next_attempt_at: String?
    public var source: String
    public var source_url: String?
    /// The whole sidecar as received, unknown keys included (never interpreted).
    public var sidecar: String?
    public var created_at: String
    public var updated_at: String
    public var started_at: String?
    public var finished_at: String?
    public var duration_s: Double?
    public var width: Int?
    public var height: Int?
    public var video_codec: String?
    public var audio_codec: String?
    public var size_bytes: Int64?

    public init(
        videoID: String, title: String, description: String = "", userID: String? = nil,
        username: String? = nil, visibility: Visibility = .draft, source: JobSource,
        sourceURL: String? = nil, sidecar: String? = nil, createdAt: String = Timestamp.string()
    ) {
        self.video_id = videoID
        self.title = title
        self.description = description
        self.user_id = userID
        self.username = username
        self.status = JobStatus.processing.rawValue
        self.visibility = visibility.rawValue
        self.phase = JobPhase.queued.rawValue
        self.progress = 0
        self.video_url = "processing"
        self.thumbnail_url = "processing"
        self.error = nil
        self.failure_reason = nil
        self.attempts = 0
        self.next_attempt_at = nil
        self.source = source.rawValue
        self.source_url = sourceURL
        self.sidecar = sidecar
        self.created_at = createdAt
        self.updated_at = createdAt
        self.started_at = nil
        self.finished_at = nil
        self.duration_s = nil
        self.width = nil
        self.height = nil
        self.video_codec = nil
        self.audio_codec = nil
        self.size_bytes = nil
    }
}

/// One row of `events`, the append-only audit log.
public struct EventRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "events"
    public var id: Int64?
    public var video_id: String
    public var at: String
    public var status: String
    public var phase: String?
    public var message: String?

    public init(videoID: String, status: String, phase: String?, message: String?, at: String = Timestamp.string()) {
        self.id = nil
        self.video_id = videoID
        self.at = at
        self.status = status
        self.phase = phase
        self.message = message
    }
}

/// One row of `users`: who may upload (`can_upload`) or list every job (`is_admin`). Only a token's SHA-256 is stored.
public struct UserRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "users"
    public var id: Int64?
    public var username: String
    public var can_upload: Bool
    public var is_admin: Bool
    public var token_hash: String
    public var created_at: String
    public var revoked_at: String?

    public init(username: String, canUpload: Bool, isAdmin: Bool, tokenHash: String, createdAt: String = Timestamp.string()) {
        self.id = nil
        self.username = username
        self.can_upload = canUpload
        self.is_admin = isAdmin
        self.token_hash = tokenHash
        self.created_at = createdAt
        self.revoked_at = nil
    }
}
