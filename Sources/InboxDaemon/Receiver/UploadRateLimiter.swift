import Foundation
import GRDB
import HTTPKit
import Hummingbird
import Logging
import Store
import Synchronization

/// One user's recent uploads, for the receiver's rate limits: starts in the last minute, bytes in the last hour.
/// Pure (time is passed in), so the limits are tested without a server.
struct UploadWindow: Sendable {
    private(set) var starts: [Double] = []
    private(set) var bytes: [(at: Double, count: Int64)] = []

    /// A window as a store kept it: the starts' times and the received bytes', oldest first.
    init(starts: [Double] = [], bytes: [(at: Double, count: Int64)] = []) {
        self.starts = starts
        self.bytes = bytes
    }

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

/// Where the per-user upload windows are counted on nodes sharing a store (`PGJobStore`): in the store, so every node
/// behind a load balancer counts the same uploads and a user gets the limit once, not once per node.
protocol SharedUploadWindows: Sendable {
    /// In one transaction, under a per-user lock (two nodes never both admit the last slot): the user's window as the
    /// store has it, old entries pruned, `decide`d at the store's clock (seconds since 1970); when `decide` admits,
    /// the start is counted before the lock is released.
    func admitUpload(username: String, _ decide: @Sendable (inout UploadWindow, Double) -> UploadWindow.Refusal?) async throws
        -> UploadWindow.Refusal?
    /// Counts an accepted upload's bytes at the store's clock.
    func recordUploadBytes(username: String, bytes: Int64) async throws
}

/// The receiver's per-user limits (`[limits]`, overridden by the user's row): uploads per minute, bytes per hour, and
/// jobs in the queue. Over any of them the answer is 429 with `Retry-After` and the JSON error. The windows are kept
/// in memory (one node: the SQLite store), or in the shared store (`shared`, PostgreSQL nodes).
final class UploadRateLimiter: Sendable {
    private let defaults: UserLimits
    private let windows = Mutex<[String: UploadWindow]>([:])
    private let shared: (any SharedUploadWindows)?
    private let logger: Logger
    /// What a client over `max_queued_jobs` is told to wait: the queue drains at the speed of conversions.
    static let queueFullRetrySeconds = 30

    init(defaults: UserLimits, shared: (any SharedUploadWindows)? = nil, logger: Logger = Logger(label: "inboxd.receiver")) {
        self.defaults = defaults
        self.shared = shared
        self.logger = logger
    }

    /// Checks the rate limits and counts the upload's start; `queued` is the user's jobs in `processing`. Throws the
    /// 429 `APIError`, or the shared store's error when it cannot be asked.
    func admit(_ user: UserRow, declared: Int64?, queued: Int, now: Double = Date().timeIntervalSince1970) async throws {
        let limits = defaults.effective(for: user)
        let cap = limits.maxQueuedJobs
        if cap > 0, queued >= cap {
            throw Self.tooMany(Self.queueFullRetrySeconds,
                               "user '\(user.username)' has \(queued) jobs in the queue (max_queued_jobs \(cap)); try again when some have finished")
        }
        let perMinute = limits.uploadsPerMinute
        let perHour = limits.uploadBytesPerHour
        let decide: @Sendable (inout UploadWindow, Double) -> UploadWindow.Refusal? = { window, now in
            window.admit(now: now, perMinute: perMinute, bytesPerHour: perHour, declared: declared)
        }
        let refusal: UploadWindow.Refusal?
        if let shared {
            // A user with no rate limit costs the shared store nothing.
            guard perMinute > 0 || perHour > 0 else { return }
            refusal = try await shared.admitUpload(username: user.username, decide)
        } else {
            refusal = windows.withLock { decide(&$0[user.username, default: UploadWindow()], now) }
        }
        if let refusal { throw Self.tooMany(refusal.retryAfter, refusal.detail) }
    }

    /// Counts an accepted upload's bytes in this node's windows.
    func record(_ user: UserRow, bytes: Int64, now: Double = Date().timeIntervalSince1970) {
        windows.withLock { $0[user.username, default: UploadWindow()].record(bytes: bytes, now: now) }
    }

    /// Counts an accepted upload's bytes where the windows are kept (the shared store, or this node's). The upload
    /// is accepted already: a store that cannot count them is logged, not an error.
    func recordAccepted(_ user: UserRow, bytes: Int64) async {
        guard let shared else { return record(user, bytes: bytes) }
        guard defaults.effective(for: user).uploadBytesPerHour > 0 else { return }
        do { try await shared.recordUploadBytes(username: user.username, bytes: bytes) } catch {
            logger.warning("upload bytes not counted in the shared store", metadata: [
                "user.name": "\(user.username)", "upload.bytes": "\(bytes)", "error": "\(error)"])
        }
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
            do { try await rates.admit(user, declared: declared, queued: queued) } catch let error as APIError {
                context.logger.notice("upload refused by a per-user limit", metadata: ["user.name": "\(user.username)", "error": "\(error.detail)"])
                throw error
            }
            return user
        }
    }
}
