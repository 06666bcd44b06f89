import Foundation
import HTTPKit
import Hummingbird

/// The receiver's refusals that need no body: size by `Content-Length` (413) and free space on the inbox
/// filesystem (507). Streamed bodies are also counted as they arrive (see `UploadBody`).
struct ReceiverLimits: Sendable {
    /// Largest request body accepted, framing included (`max_upload_bytes`).
    var maxUploadBytes: Int64
    /// Free bytes the inbox filesystem must keep after the upload (`min_free_bytes`).
    var minFreeBytes: Int64

    /// Refuses before reading anything; `Connection: close` so the unread body is not drained.
    func check(_ request: Request, incoming: String) throws {
        try check(declared: request.headers[.contentLength].flatMap { Int64($0) }, at: incoming, what: "body")
    }

    /// The same checks for `declared` bytes about to be written on the filesystem of `path` (nil: unknown size).
    func check(declared: Int64?, at path: String, what: String) throws {
        if let declared, declared > maxUploadBytes {
            throw APIError.refusal(.contentTooLarge, "too_large",
                              "\(what) of \(declared) bytes exceeds max_upload_bytes (\(maxUploadBytes))")
        }
        try checkFreeSpace(declared: declared, at: path, what: what)
    }

    func checkFreeSpace(declared: Int64?, at path: String, what: String) throws {
        let free = DiskSpace.availableBytes(at: path)
        if let free, free - (declared ?? 0) < minFreeBytes {
            let need = declared.map { "a \(what) of \($0) bytes would leave \(free - $0)" } ?? "only \(free)"
            throw APIError.refusal(.insufficientStorage, "insufficient_storage",
                              "\(need) bytes free on the inbox filesystem, below min_free_bytes (\(minFreeBytes)); try again later")
        }
    }

    func tooLarge(after received: Int64) -> APIError {
        APIError.refusal(.contentTooLarge, "too_large",
                    "body exceeded max_upload_bytes (\(maxUploadBytes)) after \(received) bytes")
    }
}

enum DiskSpace {
    /// Bytes an unprivileged writer may still use on the filesystem holding `path`; nil if statvfs fails.
    static func availableBytes(at path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}
