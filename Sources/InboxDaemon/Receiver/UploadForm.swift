import Foundation
import HTTPKit
import Multipart
import Store

extension DropRequest {
    /// An upload's metadata (form fields, the PUT's query, the URL-ingest JSON), checked as every drop's is; a
    /// refusal is a 400 that names the field.
    static func upload(_ build: () throws(DropFieldError) -> DropRequest) throws(APIError) -> DropRequest {
        do throws(DropFieldError) { return try build() } catch { throw APIError.badRequest(error.description) }
    }

    static func upload(title: String?, description: String?, visibility: String?, notifyURL: String? = nil,
                       priority: String? = nil) throws(APIError) -> DropRequest {
        try upload { () throws(DropFieldError) in
            var r = try DropRequest(title: title)
            try r.setDescription(description)
            try r.setVisibility(visibility)
            try r.setNotifyURL(notifyURL)
            try r.setPriority(text: priority)
            return r
        }
    }
}

/// `application/x-www-form-urlencoded` decoding of a query string (`+` is a space), which is how HTTP clients
/// send `?title=…` — Hummingbird's own query parsing leaves `+` alone.
enum FormQuery {
    static func parse(_ query: String?) throws -> [String: String] {
        var out: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) throws -> String {
                guard let d = s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                    throw APIError.badRequest("query parameter '\(kv[0].prefix(40))' is not valid percent-encoded UTF-8")
                }
                return d
            }
            let key = try decode(kv[0])
            if out[key] == nil { out[key] = try decode(kv.count == 2 ? kv[1] : "") }
        }
        return out
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

    /// The extension of a stored upload: the client's, unless it would make the file something else in the inbox
    /// (a sidecar `.json`, a temp name the watcher ignores), then the one of its Content-Type, then `fallback`.
    /// libav probes content, not names, so a wrong extension costs nothing; a `.json` one would lose the media.
    static func fileExtension(filename: String?, contentType: String?, fallback: String) -> String {
        if let filename, let dot = filename.lastIndex(of: ".") {
            let ext = filename[filename.index(after: dot)...].lowercased()
            if (1...8).contains(ext.count), ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
               ext != "json", !DropNames.isIgnored("x." + ext) {
                return ext
            }
        }
        if let type = contentType.map({ HeaderParameters.parse($0).value.lowercased() }), let ext = extensionsByType[type] {
            return ext
        }
        return fallback
    }
}
