import Foundation
import Pipeline
import Store

/// A drop's JSON sidecar (README, "The sidecar"): JSON syntax and field types are checked here, the values by
/// `DropRequest`, as for every other producer. Unknown keys are kept in `raw`.
@dynamicMemberLookup
struct Sidecar: Sendable {
    static let maxBytes = 64 * 1024

    var request: DropRequest
    /// The sidecar exactly as received (stored in `videos.sidecar`).
    var raw: String

    subscript<T>(dynamicMember keyPath: KeyPath<DropRequest, T>) -> T { request[keyPath: keyPath] }

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
        func number(_ object: [String: JSONValue], _ key: String, field: String) throws(SidecarError) -> Double? {
            switch object[key] {
            case nil, .null?: return nil
            case .number(let n)?: return n
            default: throw .wrongType(field: field, expected: "a number")
            }
        }

        var clipStart: Double?, clipDuration: Double?
        switch o["clip"] {
        case nil, .null?: break
        case .object(let c)?:
            clipStart = try number(c, "start_s", field: "clip.start_s") ?? 0
            clipDuration = try number(c, "duration_s", field: "clip.duration_s")
        default: throw .wrongType(field: "clip", expected: "an object {\"start_s\", \"duration_s\"}")
        }
        let priority = try number(o, "priority", field: "priority")
        let strings = (
            title: try string("title"), description: try string("description"), videoID: try string("video_id"),
            userID: try string("user_id"), username: try string("username"), visibility: try string("visibility"),
            sourceURL: try string("source_url"), sha256: try string("sha256"), thumbnail: try string("thumbnail"),
            notifyURL: try string("notify_url"))
        do throws(DropFieldError) {
            var r = try DropRequest(title: strings.title)
            try r.setDescription(strings.description)
            try r.setVideoID(strings.videoID)
            try r.setText(strings.userID, field: "user_id", \.userID)
            try r.setText(strings.username, field: "username", \.username)
            try r.setVisibility(strings.visibility)
            try r.setClip(start: clipStart, duration: clipDuration, prefix: "clip.")
            try r.setSourceURL(strings.sourceURL)
            try r.setSHA256(strings.sha256)
            try r.setThumbnail(strings.thumbnail)
            try r.setNotifyURL(strings.notifyURL)
            try r.setPriority(priority)
            return Sidecar(request: r, raw: text)
        } catch {
            throw SidecarError(error)
        }
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

    init(_ error: DropFieldError) {
        switch error {
        case .missing(let field): self = .missing(field: field)
        case .invalid(let field, let reason): self = .invalid(field: field, reason: reason)
        }
    }
}

/// Any JSON value, decoded strictly (a `true` is never a number), so field types can be checked exactly.
enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    /// Each type that does not match costs a thrown `DecodingError`, so the common ones (a sidecar is an object of
    /// strings) are tried first; the decoder is strict, so the order changes no outcome.
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let o = try? c.decode([String: JSONValue].self) { self = .object(o) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else { self = .array(try c.decode([JSONValue].self)) }
    }
}
