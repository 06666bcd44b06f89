import GRDB

/// One row of `events`, the append-only audit log: the job's status and phase after each change.
public struct EventRow: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "events"
    public var id: Int64?
    public var videoID: String
    public var at: String
    public var status: JobStatus
    public var phase: JobPhase?
    public var message: String?

    public enum CodingKeys: String, CodingKey {
        case id, videoID = "video_id", at, status, phase, message
    }

    public init(videoID: String, status: JobStatus, phase: JobPhase?, message: String?, at: String = Timestamp.string()) {
        self.id = nil
        self.videoID = videoID
        self.at = at
        self.status = status
        self.phase = phase
        self.message = message
    }
}
