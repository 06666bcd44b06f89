import GRDB

/// `uploads.state`: where a resumable (tus) upload stands. Only `receiving` takes data; `complete` became a drop
/// (its job is the `videos` row with the same id); the others failed that row and removed the bytes.
public enum UploadState: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case receiving, complete, expired, terminated, lost
}

extension UploadState: CustomStringConvertible { public var description: String { rawValue } }

/// One row of `uploads`: a tus upload, keyed by its job's `video_id`.
public struct UploadRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "uploads"

    public var videoID: String
    public var state: UploadState
    /// `Upload-Length`: the media's size in bytes.
    public var uploadLength: Int64
    /// The durable offset last recorded (the data file's size is the authority after a crash).
    public var uploadOffset: Int64
    /// `Upload-Metadata` exactly as the client sent it (tus clients read it back from `HEAD`).
    public var metadata: String
    /// The media's name in `incoming/` once complete (`<id>.<ext>`).
    public var mediaName: String
    public var userID: String?
    public var username: String?
    public var createdAt: String
    public var updatedAt: String
    /// `Upload-Expires`: an upload still receiving after this time expires.
    public var expiresAt: String
    public var completedAt: String?

    public enum CodingKeys: String, CodingKey {
        case videoID = "video_id", state, uploadLength = "upload_length", uploadOffset = "upload_offset", metadata
        case mediaName = "media_name", userID = "user_id", username, createdAt = "created_at", updatedAt = "updated_at"
        case expiresAt = "expires_at", completedAt = "completed_at"
    }

    public init(videoID: String, uploadLength: Int64, metadata: String, mediaName: String, userID: String?, username: String?,
                expiresAt: String, createdAt: String = Timestamp.string()) {
        self.videoID = videoID
        self.state = .receiving
        self.uploadLength = uploadLength
        self.uploadOffset = 0
        self.metadata = metadata
        self.mediaName = mediaName
        self.userID = userID
        self.username = username
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.expiresAt = expiresAt
        self.completedAt = nil
    }
}
