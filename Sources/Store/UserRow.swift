import GRDB

/// One row of `users`: who may upload (`can_upload`) or list every job (`is_admin`). Only a token's SHA-256 is stored.
public struct UserRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "users"
    public var id: Int64?
    public var username: String
    public var canUpload: Bool
    public var isAdmin: Bool
    public var tokenHash: String
    public var createdAt: String
    public var revokedAt: String?
    /// Highest job priority this user's drops and uploads may ask for (higher asks are capped to it).
    public var maxPriority: Int = 0
    /// Per-user limits; nil = the config's default (`[queue]`, `[limits]`). For `max_running_jobs` an admin's
    /// default is unlimited.
    public var maxRunningJobs: Int?
    public var maxQueuedJobs: Int?
    public var uploadsPerMinute: Int?
    public var uploadBytesPerHour: Int64?

    public enum CodingKeys: String, CodingKey {
        case id, username, canUpload = "can_upload", isAdmin = "is_admin", tokenHash = "token_hash"
        case createdAt = "created_at", revokedAt = "revoked_at"
        case maxPriority = "max_priority", maxRunningJobs = "max_running_jobs", maxQueuedJobs = "max_queued_jobs"
        case uploadsPerMinute = "uploads_per_minute", uploadBytesPerHour = "upload_bytes_per_hour"
    }

    public init(username: String, canUpload: Bool, isAdmin: Bool, tokenHash: String, createdAt: String = Timestamp.string()) {
        self.id = nil
        self.username = username
        self.canUpload = canUpload
        self.isAdmin = isAdmin
        self.tokenHash = tokenHash
        self.createdAt = createdAt
        self.revokedAt = nil
    }
}

extension UserRow {
    /// Whether `row` is this user's video: the owner by `username`, or by `user_id` (the users row's id as text).
    public func owns(_ row: VideoRow) -> Bool {
        row.username == username || (id != nil && row.userID == id.map(String.init))
    }
}
