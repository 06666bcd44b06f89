import Crypto
import HTTPTypes
import Foundation
import HTTPKit
import Hummingbird
import NIOCore

/// The tus 1.0.0 resumable upload protocol (https://tus.io/protocols/resumable-upload): header names, the versions
/// and extensions inboxd speaks, and the pure parsing of its headers, so each is tested without a server.
enum Tus {
    static let version = "1.0.0"
    static let extensions = "creation,creation-with-upload,termination,expiration,checksum"
    static let checksumAlgorithms = "sha1,sha256"
    static let offsetContentType = "application/offset+octet-stream"

    /// 460, tus' checksum extension: the chunk did not match its `Upload-Checksum` (nothing was appended).
    static let checksumMismatch = HTTPResponse.Status(code: 460, reasonPhrase: "Checksum Mismatch")
    static let locked = HTTPResponse.Status(code: 423, reasonPhrase: "Locked")
}

extension HTTPField.Name {
    static let tusResumable = Self("Tus-Resumable")!
    static let tusVersion = Self("Tus-Version")!
    static let tusExtension = Self("Tus-Extension")!
    static let tusMaxSize = Self("Tus-Max-Size")!
    static let tusChecksumAlgorithm = Self("Tus-Checksum-Algorithm")!
    static let uploadOffset = Self("Upload-Offset")!
    static let uploadLength = Self("Upload-Length")!
    static let uploadMetadata = Self("Upload-Metadata")!
    static let uploadExpires = Self("Upload-Expires")!
    static let uploadChecksum = Self("Upload-Checksum")!
    static let uploadDeferLength = Self("Upload-Defer-Length")!
    static let uploadConcat = Self("Upload-Concat")!
    static let httpMethodOverride = Self("X-HTTP-Method-Override")!
    /// The job's id on every answer about an upload (tus answers to `PATCH` are 204s, with no body to carry it).
    static let videoID = Self("X-Video-Id")!
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent). Keys are unique ASCII
/// without spaces or commas; values are decoded as UTF-8 text (inboxd's fields are all text).
enum TusMetadata {
    static func parse(_ header: String?) throws(APIError) -> [String: String] {
        guard let header, !header.trimmingCharacters(in: .whitespaces).isEmpty else { return [:] }
        var out: [String: String] = [:]
        for pair in header.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true)
            guard let key = parts.first.map(String.init), parts.count <= 2,
                  key.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0 != "," }) else {
                throw APIError.badRequest("Upload-Metadata must be comma-separated 'key base64value' pairs, got '\(pair.prefix(80))'")
            }
            guard out[key] == nil else { throw APIError.badRequest("Upload-Metadata names '\(key.prefix(40))' twice") }
            guard parts.count == 2 else {
                out[key] = ""
                continue
            }
            guard let data = Data(base64Encoded: String(parts[1])), let text = String(data: data, encoding: .utf8) else {
                throw APIError.badRequest("Upload-Metadata value of '\(key.prefix(40))' is not base64 of UTF-8 text")
            }
            out[key] = text
        }
        return out
    }
}

/// `Upload-Checksum: <algorithm> <base64 digest>` of one request's body.
struct TusChecksum: Sendable, Equatable {
    enum Algorithm: String, Sendable { case sha1, sha256 }
    var algorithm: Algorithm
    var digest: [UInt8]

    /// nil without the header; 400 for a malformed one or an algorithm not in `Tus-Checksum-Algorithm`.
    static func parse(_ header: String?) throws(APIError) -> TusChecksum? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2 else { throw APIError.badRequest("Upload-Checksum must be '<algorithm> <base64 digest>'") }
        guard let algorithm = Algorithm(rawValue: parts[0].lowercased()) else {
            throw APIError.badRequest("Upload-Checksum algorithm '\(parts[0].prefix(20))' is not supported (Tus-Checksum-Algorithm: \(Tus.checksumAlgorithms))")
        }
        let size = algorithm == .sha1 ? 20 : 32
        guard let digest = Data(base64Encoded: String(parts[1])), digest.count == size else {
            throw APIError.badRequest("Upload-Checksum digest is not the base64 of a \(algorithm.rawValue) digest (\(size) bytes)")
        }
        return TusChecksum(algorithm: algorithm, digest: Array(digest))
    }
}

/// The running digest of a chunk, for its `Upload-Checksum`.
struct ChunkHasher {
    private var sha1: Insecure.SHA1?
    private var sha256: SHA256?

    init(_ algorithm: TusChecksum.Algorithm) {
        switch algorithm {
        case .sha1: sha1 = Insecure.SHA1()
        case .sha256: sha256 = SHA256()
        }
    }

    mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            sha1?.update(bufferPointer: bytes)
            sha256?.update(bufferPointer: bytes)
        }
    }

    func matches(_ checksum: TusChecksum) -> Bool {
        if let sha1 { return Array(sha1.finalize()) == checksum.digest }
        if let sha256 { return Array(sha256.finalize()) == checksum.digest }
        return false
    }
}

/// `Upload-Expires` is an HTTP date (RFC 9110 IMF-fixdate): `Wed, 25 Jun 2014 16:00:00 GMT`.
enum HTTPDate {
    static func string(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: date)
    }
}
