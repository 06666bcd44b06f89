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
    var sha256: String?
    var clip: Clip?
    var notify_url: String?
    var priority: Int?

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

extension DropRequest {
    /// The sidecar and the db row of an upload of this request by `user`: the same for every receiver route.
    func uploadRecords(id: String, user: UserRow, source: JobSource, thumbnail: String? = nil) throws -> (UploadSidecar, VideoRow) {
        let userID = user.id.map(String.init) ?? ""
        let sidecar = UploadSidecar(video_id: id, title: title, description: description, visibility: visibility.rawValue,
                                    user_id: userID, username: user.username, thumbnail: thumbnail, source_url: sourceURL, sha256: sha256,
                                    clip: clip.map { .init(start_s: $0.start, duration_s: $0.duration) }, notify_url: notifyURL,
                                    priority: priority)
        let row = VideoRow(videoID: id, title: title, description: description, userID: userID, username: user.username,
                           visibility: visibility, source: source, sourceURL: sourceURL,
                           sidecar: String(decoding: try sidecar.encoded(), as: UTF8.self))
        return (sidecar, row)
    }
}
