import Foundation
import Pipeline
import StatusAPI
import Store

/// Everything the daemon and admin commands read from `inboxd.toml` and flags, every default filled in.
struct Config: Sendable {
    var inbox: String
    var db: String
    /// Local publishing directory (the embedded default when no `[s3]` table is given).
    var output: String
    var listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8080)
    /// Base of `video_url`/`thumbnail_url` for local publishing; defaults to `http://<listen>`.
    var publicURL: String?
    var workers: Int = 2
    var maxUploadBytes: Int64 = 500_000_000
    /// The receiver answers 507 when the inbox filesystem has less free space than this.
    var minFreeBytes: Int64 = 256 << 20
    /// Quiet time before an in-place-written file counts as complete.
    var settleSeconds: Double = 5
    /// `scan_interval_seconds`: list `incoming/` this often besides inotify (0 = off); for shared filesystems.
    var scanIntervalSeconds: Double = 0
    /// `inotify`: watch `incoming/` with inotify (off only with the scanner on, for filesystems without inotify).
    var useInotify = true
    /// A sidecar with no media and no `source_url` fails after this long.
    var orphanSeconds: Double = 3600
    /// Wall-clock limit for one processing attempt (the seed's "processing time limits").
    var jobTimeLimitSeconds: Double = 3600
    /// A job whose conversion, download or upload shows no progress for this long is aborted.
    var stallSeconds: Double = 120
    /// How often the daemon looks for rows an admin set back to `processing` (recovery SQL, `inboxd retry`).
    var recoveryPollSeconds: Double = 2
    /// A resumable upload with no new data for this long expires (`Upload-Expires`); its bytes are removed.
    var uploadExpiryHours: Double = 24
    /// On SIGTERM, running jobs get this long to finish before they are put back for the next start.
    var shutdownGraceSeconds: Double = 20
    var segmentSeconds: Double = 6
    /// The first segment of an MPEG-TS rendition ends at the first key frame past this, so the preview plays sooner;
    /// 0 (or ≥ `segmentSeconds`): as long as the others.
    var firstSegmentSeconds: Double = 2
    /// `[[ladder]]` rungs, `ladder_copy_top`, `segment_format` (README, "Output and conversion").
    var ladder = LadderRung.defaults
    var ladderCopyTop = true
    var segmentFormat = SegmentFormat.ts
    /// Niceness (0…19, 0 = unchanged) of the threads that convert, so HTTP stays responsive on a saturated CPU.
    var convertNice: Int32 = 10
    /// The scheduling class of conversion threads (`convert_policy`; `convert_sched_batch = true` is `batch`).
    var convertPolicy = ThreadPriority.Policy.idle
    /// While the HTTP API serves more requests per second than this, running conversions pause (`APIPressure`);
    /// 0 never pauses them.
    var convertYieldRPS = 10_000
    /// Bound of the `/status` answers kept pre-encoded in memory (`StatusSnapshot`); 0 turns the snapshot off.
    var statusCacheEntries = StatusStore.defaultCacheEntries
    /// Give back the resident pages of code and read-only data once the daemon is quiet (`MemoryTrimmer`).
    var trimMemory = true
    /// How long the daemon must be quiet (no request in flight, no job running) before it trims.
    var trimMemoryAfterSeconds: Double = 10
    /// Job-level deferred retries of transient failures (`[retry]`).
    var retry = RetryPolicy()
    /// HTTP connection limits and timeouts (`[http]`).
    var http = HTTPLimits()
    /// Per-user defaults of fair share and the receiver's rate limits (`[limits]`); the users table may override each.
    var limits = UserLimits()
    /// Claim media that has other hard links (off: a hard link may expose a file from outside the inbox).
    var allowHardLinks = false
    /// Browser origins (`scheme://host[:port]`, or `*`) whose pages may read the API and the served output (CORS).
    var corsOrigins: [String] = []
    /// Where the watch page's Video.js files are (`videojs/` inside it): the Debian package's place by default;
    /// the example config points at the source tree's `web/vendor`, which `scripts/bootstrap` fills.
    var webAssetsDir = "/usr/share/inboxd/web"
    var logLevel: String = "info"
    var s3: S3Configuration?
    var urlIngest = URLIngestConfiguration()
    /// Where `inboxd partner` puts partner accounts' chroots, keys and rsyncd modules (`[partners]`).
    var partners = PartnerSettings()
    /// `[[webhooks]]`, `notify_url_secret` and the `webhook_*` delivery keys.
    var webhooks = WebhookSettings()
    /// `[store]`: the shared PostgreSQL job store of several nodes; nil = the SQLite file `db` (one node).
    var store: StoreSettings?

    init(inbox: String, db: String, output: String) {
        self.inbox = inbox
        self.db = db
        self.output = output
    }

    var effectivePublicURL: String {
        let base = publicURL ?? "http://\(listen.urlAuthority)"
        return base.hasSuffix("/") ? String(base.dropLast()) : base
    }
}

/// `[store]`: PostgreSQL instead of the SQLite file, so several inboxd nodes share one job store.
struct StoreSettings: Sendable {
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`.
    var url: String
    /// This node's name in `locked_by`; default host name and process id.
    var node: String = PGJobStore.defaultNodeName()
    /// How long a running job's lease holds without a heartbeat (renewed every third of it).
    var leaseSeconds: Int = 30
}

/// `[retry]`: how a transient failure is retried. The n-th retry waits `base_seconds · 2^(n-1)`, at most
/// `max_seconds`, with ±25 % jitter so jobs failed by one outage do not all return at once.
struct RetryPolicy: Sendable {
    var baseSeconds: Double = 30
    var maxSeconds: Double = 3600
    /// Attempts in all (the first included) before a transient failure becomes final.
    var maxAttempts = 5

    func delay(afterAttempt attempt: Int) -> Double {
        let full = min(baseSeconds * pow(2, Double(max(attempt, 1) - 1)), maxSeconds)
        return full * Double.random(in: 0.75...1.25)
    }
}

/// `[http]`: what one client may hold of the server. Slow or idle clients are cut off so they cannot pin every
/// descriptor (slowloris).
struct HTTPLimits: Sendable {
    /// Connections open at once; more are accepted and closed at once.
    var maxConnections = 1024
    /// From connect (or the end of the previous answer) to the end of the request head.
    var headerTimeoutSeconds: Double = 10
    /// A keep-alive connection with no request in flight is closed after this long.
    var idleTimeoutSeconds: Double = 60
    /// A request body must move at least `minBodyBytesPerSecond`, measured over this window.
    var bodyTimeoutSeconds: Double = 30
    var minBodyBytesPerSecond = 1024
}

/// `[limits]`: what one user may hold of the daemon, unless their `users` row says otherwise. 0 = unlimited.
struct UserLimits: Sendable, Equatable {
    /// Jobs of one non-admin user running at once; nil = `workers - 1` (at least 1), so one worker stays free for
    /// the others. Admins and drops without an owner are not capped unless their row says so.
    var maxRunningJobs: Int?
    /// A user's jobs in `processing` (queued, running or retrying): above it the receiver answers 429 and drops in
    /// `incoming/<user>/` wait where they are.
    var maxQueuedJobs = 1000
    var uploadsPerMinute = 120
    var uploadBytesPerHour: Int64 = 0

    func runningCap(workers: Int) -> Int { maxRunningJobs ?? max(1, workers - 1) }

    /// The limits that apply to `user`: their row's own values, else these defaults — except for admins, whose
    /// defaults are all unlimited (the operator's own account is never throttled unless its row says so).
    func effective(for user: UserRow?) -> UserLimits {
        let base = user?.isAdmin == true ? UserLimits(maxRunningJobs: 0, maxQueuedJobs: 0, uploadsPerMinute: 0, uploadBytesPerHour: 0) : self
        return UserLimits(maxRunningJobs: user?.maxRunningJobs ?? base.maxRunningJobs,
                          maxQueuedJobs: user?.maxQueuedJobs ?? base.maxQueuedJobs,
                          uploadsPerMinute: user?.uploadsPerMinute ?? base.uploadsPerMinute,
                          uploadBytesPerHour: user?.uploadBytesPerHour ?? base.uploadBytesPerHour)
    }
}

struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    var host: String
    var port: Int

    /// Parses `127.0.0.1:8080`, `[::1]:8080` or `localhost:8080`.
    init?(_ text: String) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (0...65535).contains(p) else { return nil }
            port = p
        } else {
            guard let colon = text.lastIndex(of: ":"), let p = Int(text[text.index(after: colon)...]),
                  (0...65535).contains(p), colon != text.startIndex else { return nil }
            host = String(text[..<colon])
            port = p
        }
    }

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    var urlAuthority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    var description: String { urlAuthority }
}

enum ConfigError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case syntax(path: String, reason: String)
    case unknownKey(String)
    case badValue(key: String, reason: String)

    var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read config \(path): \(reason)"
        case .syntax(let path, let reason): "config \(path): \(reason)"
        case .unknownKey(let key): "unknown config key '\(key)'"
        case .badValue(let key, let reason): "config key '\(key)': \(reason)"
        }
    }
}
