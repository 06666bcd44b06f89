import Foundation

/// Strong entity tags for JSON answers pollers ask for again and again (`/status` every 2 s): the tag is a hash
/// of the exact bytes sent, so equal bytes get an equal tag and any change (progress, phase, the ETA) a new one.
/// A request whose `If-None-Match` lists the current tag gets `304 Not Modified` with no body.
public enum EntityTag {
    /// `"<16 hex digits>"`: FNV-1a 64 of the body. A validator for one resource's successive answers, not a
    /// security check, so a fast non-cryptographic hash is enough.
    public static func strong(for bytes: some Sequence<UInt8>) -> String {
        var hash = FNV()
        hash.add(bytes)
        return hash.tag
    }

    /// FNV-1a 64 fed in pieces, so a cached answer's fixed part is hashed once and only its per-request part
    /// (the ETA of `StatusSnapshot`) each time: the same tag as `strong(for:)` of the concatenation.
    public struct FNV: Sendable {
        private var hash: UInt64 = 0xcbf2_9ce4_8422_2325

        public init() {}

        public mutating func add(_ bytes: some Sequence<UInt8>) {
            for byte in bytes {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
        }

        /// `"<16 hex digits>"`.
        public var tag: String {
            let hex = String(hash, radix: 16)
            return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
        }
    }

    /// Whether `If-None-Match` (RFC 9110 §13.1.2, weak comparison) matches `tag`: `*`, or a comma-separated list
    /// of entity tags, each optionally `W/`-prefixed. A malformed header matches nothing, so the full answer is sent.
    public static func ifNoneMatch(_ header: String, matches tag: String) -> Bool {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        if trimmed == "*" { return true }
        guard let tags = parseList(trimmed) else { return false }
        return tags.contains(tag)
    }

    /// The opaque tags (quotes included, `W/` dropped) of a list, or nil when it is not a valid list (an empty one matches nothing).
    static func parseList(_ text: String) -> [String]? {
        var tags: [String] = []
        var rest = Substring(text)
        while true {
            // Empty list elements (`a, , b`) are allowed and skipped (RFC 9110 §5.6.1).
            rest = rest.drop(while: { $0 == " " || $0 == "\t" || $0 == "," })
            if rest.isEmpty { return tags }
            if rest.hasPrefix("W/") { rest = rest.dropFirst(2) }
            guard rest.first == "\"" else { return nil }
            let body = rest.dropFirst()
            guard let close = body.firstIndex(of: "\"") else { return nil }
            // etagc: %x21 / %x23-7E / obs-text
            guard body[..<close].unicodeScalars.allSatisfy({ $0.value == 0x21 || (0x23...0x7E).contains($0.value) || $0.value >= 0x80 })
            else { return nil }
            tags.append("\"" + body[..<close] + "\"")
            rest = body[body.index(after: close)...].drop(while: { $0 == " " || $0 == "\t" })
            if rest.isEmpty { return tags }
            guard rest.first == "," else { return nil }
            rest = rest.dropFirst()
        }
    }
}
