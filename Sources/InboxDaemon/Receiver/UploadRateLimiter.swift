import Foundation
import GRDB
import HTTPKit
import Hummingbird
import Store
import Synchronization

/// One user's recent uploads, for the receiver's rate limits: starts in the last minute, bytes in the last hour.
/// Pure (time is passed in), so the limits are tested without a server.
struct UploadWindow: Sendable {
    private(set) var starts: [Double] = []
    private(set) var bytes: [(at: Double, count: Int64)] = []

    /// Why an upload must wait, and for how many whole seconds (`Retry-After`).
    struct Refusal: Error, Equatable {
        var retryAfter: Int
        var detail: String
    }

    /// Admits an upload of `declared` bytes (nil: unknown) and counts its start, or says how long to wait.
    /// A limit of 0 is no limit.
    mutating func admit(now: Double, perMinute: Int, bytesPerHour: Int64, declared: Int64?) -> Refusal? {
        starts.removeAll { $0 <= now - 60 }
        bytes.removeAll { $0.at <= now - 3600 }
        if perMinute > 0, starts.count >= perMinute {
            let wait = starts[starts.count - perMinute] + 60 - now
            return Refusal(retryAfter: Self.whole(wait),
                           detail: "more than \(perMinute) uploads in a minute (uploads_per_minute); try again in \(Self.whole(wait)) s")
        }
        if bytesPerHour > 0 {
            let want = declared ?? 0
            var used = bytes.reduce(0) { $0 + $1.count }
            if used + want > bytesPerHour {
                guard want <= bytesPerHour else {
                    return Refusal(retryAfter: 3600, detail: "a body of \(want) bytes exceeds upload_bytes_per_hour (\(bytesPerHour)) on its own")
                }
                var wait = 3600.0
                for entry in bytes {
                    used -= entry.count
                    if used + want <= bytesPerHour {
                        wait = entry.at + 3600 - now
                        break
                    }
                }
                return Refusal(retryAfter: Self.whole(wait),
                               detail: "more than \(bytesPerHour) upload bytes in an hour (upload_bytes_per_hour); try again in \(Self.whole(wait)) s")
            }
        }
        starts.append(now)
        return nil
    }

    mutating func record(bytes count: Int64, now: Double) { bytes.append((now, count)) }

    private static func whole(_ seconds: Double) -> Int { max(1, Int(seconds.rounded(.up))) }
}

/// The receiver's per-user limits (`[limits]`, overridden by the user's row): uploads per minute, bytes per hour, and
/// jobs in the queue. Over any of them the answer is 429 with `Retry-After` and the JSON error.
final class UploadRateLimiter: Sendable {
    private let defaults: UserLimits
    private let windows = Mutex<[String: UploadWindow]>([:])
    /// What a client over `max_queued_jobs` is told to wait: the queue drains at the speed of conversions.
    static let queueFullRetrySeconds = 30

    init(defaults: UserLimits) { self.defaults = defaults }

    /// Checks the rate limits and counts the upload's start; `queued` is the user's jobs in `processing`.
    func admit(_ user: UserRow, declared: Int64?, queued: Int, now: Double = Date().timeIntervalSince1970) throws(APIError) {
        let limits = defaults.effective(for: user)
        let cap = limits.maxQueuedJobs
        if cap > 0, queued >= cap {
            throw Self.tooMany(Self.queueFullRetrySeconds,
                               "user '\(user.username)' has \(queued) jobs in the queue (max_queued_jobs \(cap)); try again when some have finished")
        }
        let perMinute = limits.uploadsPerMinute
        let perHour = limits.uploadBytesPerHour
        let refusal = windows.withLock { $0[user.username, default: UploadWindow()].admit(now: now, perMinute: perMinute,
                                                                                          bytesPerHour: perHour, declared: declared) }
        if let refusal { throw Self.tooMany(refusal.retryAfter, refusal.detail) }
    }

    func record(_ user: UserRow, bytes: Int64, now: Double = Date().timeIntervalSince1970) {
        windows.withLock { $0[user.username, default: UploadWindow()].record(bytes: bytes, now: now) }
    }

    static func tooMany(_ seconds: Int, _ detail: String) -> APIError {
        var error = APIError.refusal(.tooManyRequests, "rate_limited", detail)
        error.headers[.retryAfter] = "\(seconds)"
        return error
    }
}

/// Who may start an upload, on every upload route (multipart, raw PUT, URL ingest, tus creation): 401/403 for a
/// caller who may not upload, then 429 for one over a rate limit or with a full queue. Refusals come before any body
/// is read.
struct UploadAdmission: Sendable {
    let journal: any UploadJournal
    let rates: UploadRateLimiter

    /// `declared`: the bytes the upload announces (Content-Length, or tus's Upload-Length), for `upload_bytes_per_hour`.
    func admit(_ request: Request, _ context: some AuthenticatedRequestContext, declared: Int64?) async throws -> UserRow {
        try await refusingUnreadBody(request) {
            let user = try context.requireUploader()
            let queued = try await journal.processingCount(username: user.username)
            do throws(APIError) { try rates.admit(user, declared: declared, queued: queued) } catch {
                context.logger.notice("upload refused by a per-user limit", metadata: ["user.name": "\(user.username)", "error": "\(error.detail)"])
                throw error
            }
            return user
        }
    }
}
