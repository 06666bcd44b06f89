/// Which browser origins may read the API and the served output (`cors_origins`), as a pure decision so it is
/// tested as a table: an origin in, the `Access-Control-*` headers (or a refusal) out.
public struct CORSPolicy: Sendable, Equatable {
    /// Lower-cased `scheme://host[:port]` origins, or `*` for any.
    public let origins: [String]

    /// Request headers a preflight may ask for: bearer auth, JSON bodies, ranged reads of segments, resumable (tus) uploads.
    public static let allowedHeaders = "Authorization, Content-Type, Range, Upload-Length, Upload-Offset, Upload-Metadata, "
        + "Upload-Checksum, Upload-Defer-Length, Upload-Concat, Tus-Resumable, X-HTTP-Method-Override, X-Requested-With, X-Request-Id"
    public static let allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    /// What a player or uploader reads from an answer: sizes and ranges of segments, where an upload went, a tus
    /// upload's offset, length, expiry and job id, the request id.
    public static let exposedHeaders = "Content-Length, Content-Range, Accept-Ranges, Location, Upload-Offset, Upload-Length, "
        + "Upload-Metadata, Upload-Expires, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, "
        + "X-Video-Id, X-Request-Id"
    /// Browsers cap this (Chromium at 2 h); a day asks for the most any of them gives.
    public static let maxAgeSeconds = 86_400

    public init(origins: [String]) { self.origins = origins.map { $0.lowercased() } }

    public var isEnabled: Bool { !origins.isEmpty }

    public func allows(_ origin: String) -> Bool {
        origins.contains("*") || origins.contains(origin.lowercased())
    }

    /// Why `text` is not an origin a browser sends (`scheme://host[:port]`, no path), or nil when it is one or `*`.
    public static func problem(with text: String) -> String? {
        if text == "*" { return nil }
        guard let sep = text.range(of: "://") else { return "'\(text)' is not scheme://host[:port]" }
        let scheme = text[..<sep.lowerBound]
        let authority = text[sep.upperBound...]
        guard let first = scheme.first, first.isLetter,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else {
            return "'\(text)' has no valid scheme"
        }
        guard !authority.isEmpty else { return "'\(text)' has no host" }
        if authority.contains(where: { "/?#@ ".contains($0) }) {
            return "'\(text)' must be only scheme://host[:port], without a path, query, user or trailing slash"
        }
        var host = authority
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return "'\(text)' has an unclosed IPv6 host" }
            host = authority[...close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else {
                    return "'\(text)' has a bad port"
                }
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port) else {
                return "'\(text)' has a bad port"
            }
        }
        if host.isEmpty { return "'\(text)' has no host" }
        return nil
    }
}
