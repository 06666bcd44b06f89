import Foundation
import Store

/// The sidecar the receiver writes for a drop (DESIGN.md "Sidecar fields"). Encoded with sorted keys; absent
/// optionals are omitted, never written as null.
struct UploadSidecar: Codable, Sendable, Equatable {
    struct Clip: Codable, Sendable, Equatable {
        var start_s: Double
        var duration_s: Double?
    }

    var video_id: String
    var title: String
    var description: String
    var visibility: String
    var user_id: String
    var username: String
    var thumbnail: String?
    var source_url: String?
    var clip: Clip?
    var notify_url: String?

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// The 202 answer, exactly the seed's keys.
struct UploadAccepted: Codable, Sendable {
    var video_id: String
    var title: String
    var description: String
    var status: JobStatus
    var video_url: String
    var thumbnail_url: String
    var created_at: String
    var user_id: String
    var username: String

    init(row: VideoRow) {
        video_id = row.videoID
        title = row.title
        description = row.description
        status = row.status
        video_url = row.videoURL
        thumbnail_url = row.thumbnailURL
        created_at = row.createdAt
        user_id = row.userID ?? ""
        username = row.username ?? ""
    }
}
