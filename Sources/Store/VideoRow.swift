import GRDB

/// One row of `videos`: one job. Column names are the DESIGN.md contract (admins query them directly); the
/// `CodingKeys` map the Swift names onto them, for GRDB's columns and for any JSON of a row alike.
public struct VideoRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "videos"

    public var videoID: String
    public var title: String
    public var description: String
    public var userID: String?
    public var username: String?
    public var status: JobStatus
    public var visibility: Visibility
    public var phase: JobPhase
    public var progress: Double
    public var videoURL: String
    public var thumbnailURL: String
    public var error: String?
    /// Why a failed job failed; null unless `status` is `failed` (or the job waits in `retrying`).
    public var failureReason: FailureReason?
    public var attempts: Int
    /// When a job in phase `retrying` runs again (ISO 8601 UTC); null otherwise.
    public var nextAttemptAt: String?
    public var source: JobSource
    public var sourceURL: String?
    /// The whole sidecar as received, unknown keys included (never interpreted).
    public var sidecar: String?
    public var createdAt: String
    public var updatedAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var durationS: Double?
    public var width: Int?
    public var height: Int?
    public var videoCodec: String?
    public var audioCodec: String?
    public var sizeBytes: Int64?
    /// Higher runs first (capped by the owner's `max_priority` when claimed). The analytics columns are written
    /// only through `JobAnalytics` and read as whole rows, so they are not part of this record.
    public var priority: Int = 0
    /// The master playlist's URL once it was published while the job still ran (kept when ready); null before.
    public var previewURL: String?
    /// When the master was first published (ISO 8601 UTC); null before.
    public var playableAt: String?
    /// The node running the job and until when its lease holds (PostgreSQL store, several nodes); NULL on SQLite.
    public var lockedBy: String? = nil
    public var leaseUntil: String? = nil

    public enum CodingKeys: String, CodingKey {
        case videoID = "video_id", title, description, userID = "user_id", username, status, visibility, phase, progress
        case videoURL = "video_url", thumbnailURL = "thumbnail_url", error, failureReason = "failure_reason", attempts
        case nextAttemptAt = "next_attempt_at", source, sourceURL = "source_url", sidecar
        case createdAt = "created_at", updatedAt = "updated_at", startedAt = "started_at", finishedAt = "finished_at"
        case durationS = "duration_s", width, height, videoCodec = "video_codec", audioCodec = "audio_codec", sizeBytes = "size_bytes"
        case priority, previewURL = "preview_url", playableAt = "playable_at", lockedBy = "locked_by", leaseUntil = "lease_until"
    }

    public init(
        videoID: String, title: String, description: String = "", userID: String? = nil,
        username: String? = nil, visibility: Visibility = .draft, source: JobSource,
        sourceURL: String? = nil, sidecar: String? = nil, createdAt: String = Timestamp.string()
    ) {
        self.videoID = videoID
        self.title = title
        self.description = description
        self.userID = userID
        self.username = username
        self.status = .processing
        self.visibility = visibility
        self.phase = .queued
        self.progress = 0
        self.videoURL = "processing"
        self.thumbnailURL = "processing"
        self.error = nil
        self.failureReason = nil
        self.attempts = 0
        self.nextAttemptAt = nil
        self.source = source
        self.sourceURL = sourceURL
        self.sidecar = sidecar
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.startedAt = nil
        self.finishedAt = nil
        self.durationS = nil
        self.width = nil
        self.height = nil
        self.videoCodec = nil
        self.audioCodec = nil
        self.sizeBytes = nil
    }
}
