import Foundation
import Pipeline
import Store

/// A drop's metadata, checked once for every producer: a sidecar written by rsync or scp, the upload form, the
/// raw PUT's query and the URL-ingest JSON all come through here, so a field means the same whichever way it came
/// (README, "The sidecar"). Producers parse their own syntax (JSON, multipart, query) and hand over the values.
struct DropRequest: Sendable, Equatable {
    static let maxTitleLength = 200

    var title: String
    var description = ""
    var videoID: String?
    var userID: String?
    var username: String?
    var visibility: Visibility = .draft
    var clip: ClipRange?
    var sourceURL: String?
    var sha256: String?
    var thumbnail: String?
    /// A signed webhook for this job only (`video.ready`, `video.failed`); its address is judged by the producer's
    /// caller against the allow-list (`WebhookSettings.notifyURLRefusal`), since this check knows no config.
    var notifyURL: String?
    /// Asked-for priority (higher runs first); the claim caps it at the owner's `max_priority`.
    var priority: Int?

    /// Checks `title` and starts a request with it; the other fields are set through their own checks below.
    init(title: String?) throws(DropFieldError) {
        guard let title else { throw .missing(field: "title") }
        try Self.checkText(title, field: "title")
        guard title.unicodeScalars.contains(where: { !Self.isBlank($0) }) else { throw .invalid(field: "title", reason: "is blank") }
        guard title.unicodeScalars.count <= Self.maxTitleLength else {
            throw .invalid(field: "title", reason: "is longer than \(Self.maxTitleLength) characters")
        }
        self.title = title
    }

    /// Free text (`description`, `user_id`, `username`): any UTF-8 but NUL, which C-string consumers (SQLite's
    /// CLI, libav metadata, logs) would silently cut the value at.
    static func checkText(_ value: String, field: String) throws(DropFieldError) {
        guard !value.unicodeScalars.contains("\0") else {
            throw .invalid(field: field, reason: "contains a NUL character (U+0000), which is not allowed in text")
        }
    }

    mutating func setText(_ value: String?, field: String, _ keyPath: WritableKeyPath<DropRequest, String?>) throws(DropFieldError) {
        if let value { try Self.checkText(value, field: field) }
        self[keyPath: keyPath] = value
    }

    mutating func setDescription(_ value: String?) throws(DropFieldError) {
        if let value { try Self.checkText(value, field: "description") }
        description = value ?? ""
    }

    /// Absent or empty means the default, `draft` (a form's unset select sends an empty field).
    mutating func setVisibility(_ value: String?) throws(DropFieldError) {
        guard let value, !value.isEmpty else { return }
        guard let v = Visibility(rawValue: value) else {
            throw .invalid(field: "visibility", reason: "must be draft, private or published, not '\(value.prefix(40))'")
        }
        visibility = v
    }

    mutating func setVideoID(_ value: String?) throws(DropFieldError) {
        guard let value else { return }
        guard let id = VideoID.parse(value) else { throw .invalid(field: "video_id", reason: "must be a UUID") }
        videoID = id
    }

    /// `start` (default 0) must be ≥ 0 and `duration`, when given, > 0; both finite. `prefix` names the fields as
    /// the producer spells them (`clip.` in a sidecar, nothing in the URL-ingest JSON).
    mutating func setClip(start: Double?, duration: Double?, prefix: String) throws(DropFieldError) {
        guard start != nil || duration != nil else { return }
        let start = start ?? 0
        guard start >= 0, start.isFinite else { throw .invalid(field: prefix + "start_s", reason: "must be a number ≥ 0") }
        if let duration, !(duration > 0 && duration.isFinite) {
            throw .invalid(field: prefix + "duration_s", reason: "must be a number > 0")
        }
        clip = ClipRange(start: start, duration: duration)
    }

    /// A plain ASCII http(s) URL (`urlPattern`, the OpenAPI schema's pattern, checked verbatim).
    mutating func setSourceURL(_ value: String?, field: String = "source_url") throws(DropFieldError) {
        guard let value else { return }
        guard value.range(of: Self.urlPattern, options: .regularExpression) != nil else {
            throw .invalid(field: field, reason: "must be a plain http(s) URL (\(Self.urlPattern))")
        }
        sourceURL = value
    }

    /// Same form as `source_url`.
    mutating func setNotifyURL(_ value: String?) throws(DropFieldError) {
        guard let value else { return }
        guard value.range(of: Self.urlPattern, options: .regularExpression) != nil else {
            throw .invalid(field: "notify_url", reason: "must be a plain http(s) URL (\(Self.urlPattern))")
        }
        notifyURL = value
    }

    mutating func setSHA256(_ value: String?) throws(DropFieldError) {
        guard let value else { return }
        let hex = value.lowercased()
        guard hex.utf8.count == 64, hex.allSatisfy({ $0.isHexDigit }) else {
            throw .invalid(field: "sha256", reason: "must be 64 hex digits")
        }
        sha256 = hex
    }

    mutating func setThumbnail(_ value: String?) throws(DropFieldError) {
        guard let value else { return }
        guard !value.isEmpty, !value.contains("/"), !value.hasPrefix("."), !value.unicodeScalars.contains("\0") else {
            throw .invalid(field: "thumbnail", reason: "must be a file name in the same directory")
        }
        thumbnail = value
    }

    /// An integer in ±`maxPriority` (a JSON number without a fraction, or a form field's digits).
    mutating func setPriority(_ value: Double?) throws(DropFieldError) {
        guard let value else { return }
        guard value == value.rounded(), abs(value) <= Double(Self.maxPriority) else {
            throw .invalid(field: "priority", reason: "must be an integer from -\(Self.maxPriority) to \(Self.maxPriority)")
        }
        priority = Int(value)
    }

    /// A form or query field (digits with an optional sign).
    mutating func setPriority(text: String?) throws(DropFieldError) {
        guard let text else { return }
        guard let n = Int(text) else {
            throw .invalid(field: "priority", reason: "must be an integer from -\(Self.maxPriority) to \(Self.maxPriority)")
        }
        try setPriority(Double(n))
    }

    static let maxPriority = 1_000_000

    /// Whitespace as the OpenAPI `\S` pattern means it (Python's `str.isspace`): Unicode spaces and line breaks plus
    /// the ASCII separators U+001C–U+001F, so the schema and the server agree on what a blank title is.
    static func isBlank(_ s: Unicode.Scalar) -> Bool {
        CharacterSet.whitespacesAndNewlines.contains(s) || (0x1C...0x1F).contains(s.value)
    }

    /// `http(s)://host[:port][/path][?query]` in plain ASCII.
    static let urlPattern = #"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?(\?[A-Za-z0-9._~%&=+-]*)?$"#
}

/// Why a drop's metadata was refused; each producer words it its own way (a sidecar error, a 400 answer).
enum DropFieldError: Error, Equatable, CustomStringConvertible {
    case missing(field: String)
    case invalid(field: String, reason: String)

    var field: String {
        switch self {
        case .missing(let field), .invalid(let field, _): field
        }
    }

    var description: String {
        switch self {
        case .missing(let field): "'\(field)' is required"
        case .invalid(let field, let reason): "'\(field)' \(reason)"
        }
    }
}
