import Foundation
import Multipart
import StatusAPI
import Store

/// The metadata of an upload, whichever route it came through, checked against the sidecar contract.
struct UploadForm: Sendable {
    var title: String
    var description: String
    var visibility: Visibility

    init(title: String?, description: String?, visibility: String?) throws {
        guard let title, !title.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError.badRequest("missing 'title'")
        }
        guard title.count <= 200 else { throw APIError.badRequest("'title' is longer than 200 characters") }
        self.title = title
        self.description = description ?? ""
        if let visibility, !visibility.isEmpty {
            guard let v = Visibility(rawValue: visibility) else {
                throw APIError.badRequest("'visibility' must be draft, private or published, not '\(visibility)'")
            }
            self.visibility = v
        } else {
            self.visibility = .draft
        }
    }
}

/// File names the receiver gives media in `incoming/`: `<video_id>.<ext>`, the extension taken from the client's
/// file name when it is short and alphanumeric, else from the Content-Type, else `mp4` (libav probes content anyway).
enum MediaName {
    static let extensionsByType = [
        "video/mp4": "mp4", "video/quicktime": "mov", "video/x-matroska": "mkv", "video/webm": "webm",
        "video/x-msvideo": "avi", "video/mpeg": "mpg", "video/mp2t": "ts", "image/jpeg": "jpg", "image/png": "png",
        "image/webp": "webp",
    ]

    static func fileExtension(filename: String?, contentType: String?, fallback: String) -> String {
        if let filename, let dot = filename.lastIndex(of: ".") {
            let ext = filename[filename.index(after: dot)...].lowercased()
            if (1...8).contains(ext.count), ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) { return ext }
        }
        if let type = contentType.map({ HeaderParameters.parse($0).value.lowercased() }), let ext = extensionsByType[type] {
            return ext
        }
        return fallback
    }
}
