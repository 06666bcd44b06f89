import Foundation

/// AWS Signature Version 4 for S3, signed in Swift (libavutil's HMAC-SHA-256) rather than with CURLOPT_AWS_SIGV4,
/// whose 7.88 build signs an empty payload for uploads. The request curl sends is built from the same encoded
/// path and query that are signed here, so what is signed is what goes on the wire.
struct SigV4Signer: Sendable {
    var accessKeyID: String
    var secretAccessKey: String
    var sessionToken: String?
    var region: String
    var service = "s3"

    /// Marks a body the signature does not cover (file uploads; TLS protects them in transit).
    static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// The headers to send: `headers` plus `x-amz-date`, `x-amz-content-sha256`, the session token if any, and
    /// `Authorization`. `canonicalURI` and `canonicalQuery` must already be encoded (see `uriEncode`); `host` is
    /// the Host header curl sends (with the port when it is not the scheme's default).
    func sign(
        method: String, host: String, canonicalURI: String, canonicalQuery: String,
        headers: [(String, String)], payloadHash: String, date: Date = Date()
    ) -> [(String, String)] {
        let (amzDate, day) = Self.timestamps(date)
        var all = headers.map { ($0.0.lowercased(), Self.trim($0.1)) }
        all.append(("x-amz-date", amzDate))
        all.append(("x-amz-content-sha256", payloadHash))
        if let sessionToken, !sessionToken.isEmpty { all.append(("x-amz-security-token", sessionToken)) }
        var signed = all
        signed.append(("host", host))
        signed.sort { $0.0 < $1.0 }
        let signedHeaders = signed.map(\.0).joined(separator: ";")
        let canonicalRequest = [
            method, canonicalURI, canonicalQuery,
            signed.map { "\($0.0):\($0.1)\n" }.joined(),
            signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Digest.sha256Hex(canonicalRequest)].joined(separator: "\n")
        var key = Digest.hmacSHA256(key: Array("AWS4\(secretAccessKey)".utf8), data: Array(day.utf8))
        for part in [region, service, "aws4_request"] {
            key = Digest.hmacSHA256(key: key, data: Array(part.utf8))
        }
        let signature = Digest.hex(Digest.hmacSHA256(key: key, data: Array(stringToSign.utf8)))
        all.append((
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        ))
        return all
    }

    private static let unreserved = Set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8)

    /// S3's URI encoding: everything but `A–Z a–z 0–9 - _ . ~` as `%XX` (upper-case hex); `/` kept in paths.
    static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in text.utf8 {
            if unreserved.contains(b) || (keepSlash && b == UInt8(ascii: "/")) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `a=1&b=` sorted by name, both sides encoded; a parameter without a value is signed as `name=`.
    static func canonicalQuery(_ items: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = items.map { item in
            (uriEncode(item.0, keepSlash: false), uriEncode(item.1, keepSlash: false))
        }
        let sorted = encoded.sorted { (a, b) -> Bool in a.name != b.name ? a.name < b.name : a.value < b.value }
        return sorted.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    private static func trim(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// `20130524T000000Z` and `20130524` in UTC: ISO 8601's basic format, as AWS signs it.
    private static func timestamps(_ date: Date) -> (String, String) {
        let stamp = date.formatted(basicFormat)
        return (stamp, String(stamp.prefix(8)))
    }

    private static let basicFormat = Date.ISO8601FormatStyle(
        dateSeparator: .omitted, dateTimeSeparator: .standard, timeSeparator: .omitted, timeZone: .gmt)
}
