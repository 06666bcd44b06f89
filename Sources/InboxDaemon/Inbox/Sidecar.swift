import Foundation
import Pipeline
import Store

/// A drop's JSON sidecar (DESIGN.md "Sidecar fields"), validated. Unknown keys are kept in `raw`.
struct Sidecar: Sendable {
    static let maxBytes = 64 * 1024

    var title: String
    var description: String = ""
    var videoID: String?
    var userID: String?
    var username: String?
    var visibility: Visibility = .draft
    var clip: ClipRange?
    var sourceURL: String?
    var sha256: String?
    var thumbnail: String?
    /// The sidecar exactly as received (stored in `videos.sidecar`).
    var raw: String

    static func parse(_ bytes: [UInt8]) throws(SidecarError) -> Sidecar {
        guard bytes.count <= maxBytes else { throw .tooLarge(bytes.count) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notUTF8 }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) } catch {
            throw .invalidJSON(Self.describe(error))
        }
        guard case .object(let o) = value else { throw .notAnObject }

        func string(_ key: String) throws(SidecarError) -> String? {
            switch o[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            default: throw .wrongType(field: key, expected: "a string")
            }
        }

        guard let title = try string("title") else { throw .missing(field: "title") }
        let length = title.trimmingCharacters(in: .whitespacesAndNewlines).count
        guard length >= 1, title.count <= 200 else { throw .invalid(field: "title", reason: "must be 1–200 characters") }
        var s = Sidecar(title: title, raw: text)
        s.description = try string("description") ?? ""
        if let id = try string("video_id") {
            guard let uuid = UUID(uuidString: id) else { throw .invalid(field: "video_id", reason: "must be a UUID") }
            s.videoID = uuid.uuidString.lowercased()
        }
        s.userID = try string("user_id")
        s.username = try string("username")
        if let v = try string("visibility") {
            guard let vis = Visibility(rawValue: v) else {
                throw .invalid(field: "visibility", reason: "must be draft, private or published")
            }
            s.visibility = vis
        }
        switch o["clip"] {
        case nil, .null?: break
        case .object(let c)?:
            guard case .number(let start)? = c["start_s"] ?? .number(0), start >= 0, start.isFinite else {
                throw .invalid(field: "clip.start_s", reason: "must be a number ≥ 0")
            }
            var duration: Double?
            switch c["duration_s"] {
            case nil, .null?: duration = nil
            case .number(let d)? where d > 0 && d.isFinite: duration = d
            default: throw .invalid(field: "clip.duration_s", reason: "must be a number > 0")
            }
            s.clip = ClipRange(start: start, duration: duration)
        default: throw .wrongType(field: "clip", expected: "an object {\"start_s\", \"duration_s\"}")
        }
        if let url = try string("source_url") {
            guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  u.host?.isEmpty == false else {
                throw .invalid(field: "source_url", reason: "must be an http(s) URL")
            }
            s.sourceURL = url
        }
        if let sum = try string("sha256") {
            let hex = sum.lowercased()
            guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit }) else {
                throw .invalid(field: "sha256", reason: "must be 64 hex digits")
            }
            s.sha256 = hex
        }
        if let thumb = try string("thumbnail") {
            guard !thumb.isEmpty, !thumb.contains("/"), !thumb.hasPrefix("."), thumb != ".." else {
                throw .invalid(field: "thumbnail", reason: "must be a file name in the same directory")
            }
            s.thumbnail = thumb
        }
        return s
    }

    private static func describe(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let c) = error {
            let underlying = (c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return underlying ?? c.debugDescription
        }
        return "\(error)"
    }
}

enum SidecarError: Error, CustomStringConvertible, Equatable {
    case tooLarge(Int)
    case notUTF8
    case invalidJSON(String)
    case notAnObject
    case missing(field: String)
    case wrongType(field: String, expected: String)
    case invalid(field: String, reason: String)

    var description: String {
        switch self {
        case .tooLarge(let n): "sidecar is \(n) bytes; the limit is \(Sidecar.maxBytes)"
        case .notUTF8: "sidecar is not valid UTF-8"
        case .invalidJSON(let reason): "sidecar is not valid JSON: \(reason)"
        case .notAnObject: "sidecar must be a JSON object"
        case .missing(let field): "sidecar field '\(field)' is required"
        case .wrongType(let field, let expected): "sidecar field '\(field)' must be \(expected)"
        case .invalid(let field, let reason): "sidecar field '\(field)' \(reason)"
        }
    }
}

/// Any JSON value, decoded strictly (a `true` is never a number), so field types can be checked exactly.
enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}
