import Foundation
import HTTPKit
import Pipeline
import Store
import TOMLKit

extension Config {
    /// Reads a TOML config. Relative paths are relative to the file's directory; an unknown key is an error
    /// naming it, so a typo never silently falls back to a default.
    static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Config {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw ConfigError.syntax(path: path, reason: "\(e.description) at line \(e.source.begin.line)")
        } catch {
            throw ConfigError.syntax(path: path, reason: "\(error)")
        }
        let base = (URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent()).path
        return try Config(table: table, baseDirectory: base, environment: environment)
    }

    init(table: TOMLTable, baseDirectory: String, environment: [String: String]) throws {
        let r = TableReader(table: table, prefix: "")
        func path(_ value: String) -> String {
            value.hasPrefix("/") ? value : (baseDirectory as NSString).appendingPathComponent(value)
        }
        let inbox = path(try r.string("inbox") ?? "inbox")
        self.init(
            inbox: inbox,
            db: path(try r.string("db") ?? "inboxd.db"),
            output: path(try r.string("output") ?? "output"))
        if let l = try r.string("listen") {
            guard let a = ListenAddress(l) else { throw ConfigError.badValue(key: "listen", reason: "expected HOST:PORT, got '\(l)'") }
            listen = a
        }
        publicURL = try r.string("public_url")
        workers = try r.int("workers", min: 1) ?? workers
        maxUploadBytes = try r.int("max_upload_bytes", min: 1).map(Int64.init) ?? maxUploadBytes
        minFreeBytes = try r.int("min_free_bytes", min: 0).map(Int64.init) ?? minFreeBytes
        settleSeconds = try r.seconds("settle_seconds") ?? settleSeconds
        scanIntervalSeconds = try r.seconds("scan_interval_seconds") ?? scanIntervalSeconds
        if scanIntervalSeconds > 0, scanIntervalSeconds < 0.25 {
            throw ConfigError.badValue(key: "scan_interval_seconds", reason: "must be 0 (off) or at least 0.25 s, got \(scanIntervalSeconds)")
        }
        useInotify = try r.bool("inotify") ?? useInotify
        if !useInotify, scanIntervalSeconds == 0 {
            throw ConfigError.badValue(key: "inotify", reason: "false needs scan_interval_seconds > 0, or no drop would ever be seen")
        }
        orphanSeconds = try r.seconds("orphan_seconds") ?? orphanSeconds
        jobTimeLimitSeconds = try r.seconds("job_time_limit_seconds") ?? jobTimeLimitSeconds
        stallSeconds = try r.seconds("stall_seconds") ?? stallSeconds
        recoveryPollSeconds = try r.seconds("recovery_poll_seconds") ?? recoveryPollSeconds
        uploadExpiryHours = try r.seconds("upload_expiry_hours") ?? uploadExpiryHours
        guard uploadExpiryHours > 0 else { throw ConfigError.badValue(key: "upload_expiry_hours", reason: "must be a number of hours > 0") }
        segmentSeconds = try r.seconds("segment_seconds") ?? segmentSeconds
        firstSegmentSeconds = try r.seconds("first_segment_seconds") ?? firstSegmentSeconds
        shutdownGraceSeconds = try r.seconds("shutdown_grace_seconds") ?? shutdownGraceSeconds
        if let rungs = try r.tables("ladder") { ladder = try Self.ladder(rungs) }
        ladderCopyTop = try r.bool("ladder_copy_top") ?? ladderCopyTop
        if let format = try r.string("segment_format") {
            guard let f = SegmentFormat(rawValue: format) else {
                throw ConfigError.badValue(key: "segment_format", reason: "expected \"ts\" or \"fmp4\", got \"\(format)\"")
            }
            segmentFormat = f
        }
        if let n = try r.int("convert_nice", min: 0) {
            guard n <= 19 else { throw ConfigError.badValue(key: "convert_nice", reason: "must be 0…19, got \(n)") }
            convertNice = Int32(n)
        }
        if try r.bool("convert_sched_batch") == true { convertPolicy = .batch }
        if let name = try r.string("convert_policy") {
            guard let policy = ThreadPriority.Policy(rawValue: name) else {
                throw ConfigError.badValue(key: "convert_policy", reason: "expected \"normal\", \"batch\" or \"idle\", got \"\(name)\"")
            }
            convertPolicy = policy
        }
        convertYieldRPS = try r.int("convert_yield_rps", min: 0) ?? convertYieldRPS
        statusCacheEntries = try r.int("status_cache_entries", min: 0) ?? statusCacheEntries
        trimMemory = try r.bool("trim_memory") ?? trimMemory
        trimMemoryAfterSeconds = try r.seconds("trim_memory_after_seconds") ?? trimMemoryAfterSeconds
        if let level = try r.string("log_level") {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(level) else {
                throw ConfigError.badValue(key: "log_level", reason: "expected one of \(levels.joined(separator: ", "))")
            }
            logLevel = level
        }
        allowHardLinks = try r.bool("allow_hard_links") ?? allowHardLinks
        corsOrigins = try r.strings("cors_origins") ?? corsOrigins
        if let problem = corsOrigins.lazy.compactMap(CORSPolicy.problem(with:)).first {
            throw ConfigError.badValue(key: "cors_origins", reason: problem)
        }
        webAssetsDir = try r.string("web_assets_dir").map(path) ?? webAssetsDir
        if let t = try r.table("store") { store = try Self.store(TableReader(table: t, prefix: "store.")) }
        if let t = try r.table("retry") { retry = try Self.retry(TableReader(table: t, prefix: "retry.")) }
        if let t = try r.table("limits") { limits = try Self.limits(TableReader(table: t, prefix: "limits.")) }
        if let t = try r.table("http") { http = try Self.http(TableReader(table: t, prefix: "http.")) }
        if let s3Table = try r.table("s3") { s3 = try Self.s3(TableReader(table: s3Table, prefix: "s3."), environment) }
        if let u = try r.table("url_ingest") { urlIngest = try Self.urlIngest(TableReader(table: u, prefix: "url_ingest."), maxBytes: maxUploadBytes) } else { urlIngest.maxBytes = maxUploadBytes }
        if let t = try r.table("partners") { partners = try Self.partners(TableReader(table: t, prefix: "partners."), path) }
        webhooks = try Self.webhooks(r, allow: urlIngest.allow)
        try r.rejectUnknown()
    }

    /// `[[webhooks]]` entries and the top-level `notify_url_secret` and `webhook_*` keys. A URL the address guard
    /// refuses as written (a loopback, private or link-local literal, `localhost`) is an error here, at start.
    private static func webhooks(_ r: TableReader, allow: [String]) throws -> WebhookSettings {
        var w = WebhookSettings()
        w.retryHours = try r.seconds("webhook_retry_hours") ?? w.retryHours
        w.backoffBaseSeconds = try r.seconds("webhook_backoff_base_seconds") ?? w.backoffBaseSeconds
        w.backoffMaxSeconds = try r.seconds("webhook_backoff_max_seconds") ?? w.backoffMaxSeconds
        w.timeoutSeconds = try r.seconds("webhook_timeout_seconds") ?? w.timeoutSeconds
        if w.timeoutSeconds <= 0 { throw ConfigError.badValue(key: "webhook_timeout_seconds", reason: "must be > 0") }
        if let secret = try r.string("notify_url_secret") {
            guard !secret.isEmpty else { throw ConfigError.badValue(key: "notify_url_secret", reason: "must not be empty") }
            w.notifyURLSecret = secret
        }
        for (i, table) in (try r.tables("webhooks") ?? []).enumerated() {
            let e = TableReader(table: table, prefix: "webhooks[\(i)].")
            guard let url = try e.string("url") else { throw ConfigError.badValue(key: "webhooks[\(i)].url", reason: "required") }
            if let refusal = WebhookPoster.refusal(forURL: url, allow: allow) {
                throw ConfigError.badValue(key: "webhooks[\(i)].url", reason: "refused: \(refusal)")
            }
            guard let secret = try e.string("secret"), !secret.isEmpty else {
                throw ConfigError.badValue(key: "webhooks[\(i)].secret", reason: "required (it signs every delivery)")
            }
            var events = WebhookSettings.defaultEvents
            if let names = try e.strings("events") {
                events = []
                for name in names {
                    guard let event = WebhookEvent(rawValue: name) else {
                        let known = WebhookEvent.allCases.map(\.rawValue).joined(separator: ", ")
                        throw ConfigError.badValue(key: "webhooks[\(i)].events", reason: "unknown event '\(name)' (expected \(known))")
                    }
                    events.insert(event)
                }
                if events.isEmpty { throw ConfigError.badValue(key: "webhooks[\(i)].events", reason: "must name at least one event") }
            }
            try e.rejectUnknown()
            w.endpoints.append(WebhookEndpoint(url: url, secret: secret, events: events))
        }
        return w
    }

    /// `[[ladder]]`: at least one rung, distinct even heights, bit rates written as "2800k" or "2.8M", max ≥ average.
    static func ladder(_ tables: [TOMLTable]) throws -> [LadderRung] {
        guard !tables.isEmpty else { throw ConfigError.badValue(key: "ladder", reason: "needs at least one [[ladder]] rung") }
        var rungs: [LadderRung] = []
        for (i, table) in tables.enumerated() {
            let prefix = "ladder[\(i)]."
            let e = TableReader(table: table, prefix: prefix)
            guard let height = try e.int("height", min: 2) else { throw ConfigError.badValue(key: prefix + "height", reason: "required") }
            guard height % 2 == 0, height <= 4320 else {
                throw ConfigError.badValue(key: prefix + "height", reason: "must be an even number of pixels ≤ 4320, got \(height)")
            }
            func rate(_ key: String, default value: Int? = nil) throws -> Int {
                guard let text = try e.string(key) else {
                    if let value { return value }
                    throw ConfigError.badValue(key: prefix + key, reason: "required, e.g. \"2800k\"")
                }
                guard let bits = BitRate.parse(text) else {
                    throw ConfigError.badValue(key: prefix + key, reason: "expected a bit rate like \"2800k\" or \"2.8M\" (bits/s), got \"\(text)\"")
                }
                return bits
            }
            let video = try rate("video_bitrate"), max = try rate("max_rate"), audio = try rate("audio_bitrate", default: 128_000)
            guard max >= video else {
                throw ConfigError.badValue(key: prefix + "max_rate", reason: "must be at least video_bitrate (it is the peak)")
            }
            guard (16_000...512_000).contains(audio) else {
                throw ConfigError.badValue(key: prefix + "audio_bitrate", reason: "must be 16k…512k for AAC")
            }
            if rungs.contains(where: { $0.height == height }) {
                throw ConfigError.badValue(key: prefix + "height", reason: "two rungs with height \(height): each rung needs its own")
            }
            try e.rejectUnknown()
            rungs.append(LadderRung(height: height, videoBitRate: video, maxRate: max, audioBitRate: audio))
        }
        return rungs
    }

    private static func partners(_ r: TableReader, _ path: (String) -> String) throws -> PartnerSettings {
        var p = PartnerSettings()
        p.group = try r.string("group") ?? p.group
        p.chrootRoot = try r.string("chroot_root").map(path) ?? p.chrootRoot
        p.sshKeysDirectory = try r.string("ssh_keys_dir").map(path) ?? p.sshKeysDirectory
        p.rsyncdDirectory = try r.string("rsyncd_dir").map(path) ?? p.rsyncdDirectory
        p.mountUnitDirectory = try r.string("mount_unit_dir").map(path) ?? p.mountUnitDirectory
        try r.rejectUnknown()
        guard PartnerLayout.isValidName(p.group) else {
            throw ConfigError.badValue(key: "partners.group", reason: "expected a group name (lower-case letters, digits, '_', '-')")
        }
        return p
    }

    private static func s3(_ r: TableReader, _ env: [String: String]) throws -> S3Configuration {
        guard let endpoint = try r.string("endpoint") else { throw ConfigError.badValue(key: "s3.endpoint", reason: "required") }
        guard let bucket = try r.string("bucket") else { throw ConfigError.badValue(key: "s3.bucket", reason: "required") }
        guard let key = try r.string("access_key_id") ?? env["AWS_ACCESS_KEY_ID"] else {
            throw ConfigError.badValue(key: "s3.access_key_id", reason: "required (or set AWS_ACCESS_KEY_ID)")
        }
        guard let secret = try r.string("secret_access_key") ?? env["AWS_SECRET_ACCESS_KEY"] else {
            throw ConfigError.badValue(key: "s3.secret_access_key", reason: "required (or set AWS_SECRET_ACCESS_KEY)")
        }
        var c = S3Configuration(endpoint: endpoint, bucket: bucket, accessKeyID: key, secretAccessKey: secret)
        c.sessionToken = try r.string("session_token") ?? env["AWS_SESSION_TOKEN"]
        c.region = try r.string("region") ?? env["AWS_REGION"] ?? c.region
        c.prefix = (try r.string("prefix") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        c.pathStyle = try r.bool("path_style") ?? c.pathStyle
        c.publicBaseURL = try r.string("public_base_url")
        c.parallelism = try r.int("parallelism", min: 1) ?? c.parallelism
        c.partSizeBytes = try r.int("part_size_bytes", min: 5 << 20).map(Int64.init) ?? c.partSizeBytes
        c.multipartThresholdBytes = try r.int("multipart_threshold_bytes", min: 5 << 20).map(Int64.init) ?? c.multipartThresholdBytes
        c.maxAttempts = try r.int("max_attempts", min: 1) ?? c.maxAttempts
        c.connectTimeoutSeconds = try r.seconds("connect_timeout_seconds") ?? c.connectTimeoutSeconds
        c.requestTimeoutSeconds = try r.seconds("request_timeout_seconds") ?? c.requestTimeoutSeconds
        c.retryBaseDelaySeconds = try r.seconds("retry_base_delay_seconds") ?? c.retryBaseDelaySeconds
        c.retryMaxDelaySeconds = try r.seconds("retry_max_delay_seconds") ?? c.retryMaxDelaySeconds
        try r.rejectUnknown()
        return c
    }

    private static func store(_ r: TableReader) throws -> StoreSettings {
        guard let url = try r.string("url") else {
            throw ConfigError.badValue(key: "store.url", reason: "required in a [store] table (without [store], the SQLite file `db` is the store)")
        }
        _ = try PGJobStore.configuration(url: url)  // a malformed URL fails here, at start
        var s = StoreSettings(url: url)
        if let node = try r.string("node") {
            guard (1...200).contains(node.count), !node.hasPrefix("."),
                  node.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw ConfigError.badValue(key: "store.node", reason: "must be 1…200 letters, digits, '.', '_' or '-' (it names the node's scratch directory)")
            }
            s.node = node
        }
        s.leaseSeconds = try r.int("lease_seconds", min: 3) ?? s.leaseSeconds
        try r.rejectUnknown()
        return s
    }

    private static func retry(_ r: TableReader) throws -> RetryPolicy {
        var p = RetryPolicy()
        p.baseSeconds = try r.seconds("base_seconds") ?? p.baseSeconds
        p.maxSeconds = try r.seconds("max_seconds") ?? p.maxSeconds
        p.maxAttempts = try r.int("max_attempts", min: 1) ?? p.maxAttempts
        try r.rejectUnknown()
        guard p.maxSeconds >= p.baseSeconds else {
            throw ConfigError.badValue(key: "retry.max_seconds", reason: "must be ≥ retry.base_seconds (\(p.baseSeconds))")
        }
        return p
    }

    private static func limits(_ r: TableReader) throws -> UserLimits {
        var l = UserLimits()
        l.maxRunningJobs = try r.int("max_running_jobs", min: 0)
        l.maxQueuedJobs = try r.int("max_queued_jobs", min: 0) ?? l.maxQueuedJobs
        l.uploadsPerMinute = try r.int("uploads_per_minute", min: 0) ?? l.uploadsPerMinute
        l.uploadBytesPerHour = try r.int("upload_bytes_per_hour", min: 0).map(Int64.init) ?? l.uploadBytesPerHour
        try r.rejectUnknown()
        return l
    }

    private static func http(_ r: TableReader) throws -> HTTPLimits {
        var h = HTTPLimits()
        h.maxConnections = try r.int("max_connections", min: 1) ?? h.maxConnections
        h.headerTimeoutSeconds = try r.seconds("header_timeout_seconds") ?? h.headerTimeoutSeconds
        h.idleTimeoutSeconds = try r.seconds("idle_timeout_seconds") ?? h.idleTimeoutSeconds
        h.bodyTimeoutSeconds = try r.seconds("body_timeout_seconds") ?? h.bodyTimeoutSeconds
        h.minBodyBytesPerSecond = try r.int("min_body_bytes_per_second", min: 0) ?? h.minBodyBytesPerSecond
        try r.rejectUnknown()
        for (key, value) in [("header_timeout_seconds", h.headerTimeoutSeconds), ("idle_timeout_seconds", h.idleTimeoutSeconds),
                             ("body_timeout_seconds", h.bodyTimeoutSeconds)] where value <= 0 {
            throw ConfigError.badValue(key: "http." + key, reason: "must be > 0")
        }
        return h
    }

    private static func urlIngest(_ r: TableReader, maxBytes: Int64) throws -> URLIngestConfiguration {
        var c = URLIngestConfiguration()
        c.maxBytes = maxBytes
        c.allow = try r.strings("allow") ?? []
        c.maxRedirects = try r.int("max_redirects", min: 0) ?? c.maxRedirects
        c.connectTimeoutSeconds = try r.seconds("connect_timeout_seconds") ?? c.connectTimeoutSeconds
        c.lowSpeedBytesPerSecond = try r.int("low_speed_bytes_per_second", min: 1) ?? c.lowSpeedBytesPerSecond
        c.lowSpeedSeconds = try r.int("low_speed_seconds", min: 1) ?? c.lowSpeedSeconds
        c.ytDlp = try r.string("yt_dlp") ?? c.ytDlp
        c.ytDlpTimeoutSeconds = try r.seconds("yt_dlp_timeout_seconds") ?? c.ytDlpTimeoutSeconds
        c.pageHosts = try r.strings("page_hosts") ?? c.pageHosts
        if let resolver = try r.string("resolver") {
            guard let v = URLIngestConfiguration.Resolver(rawValue: resolver) else {
                throw ConfigError.badValue(key: "url_ingest.resolver", reason: "expected auto, direct or yt-dlp")
            }
            c.resolver = v
        }
        try r.rejectUnknown()
        do { try c.validate() } catch {
            throw ConfigError.badValue(key: "url_ingest.allow", reason: error.description)
        }
        return c
    }
}

/// Typed reads from one TOML table that remember which keys were used, so leftovers can be reported.
private final class TableReader {
    let table: TOMLTable
    let prefix: String
    private var used: Set<String> = []

    init(table: TOMLTable, prefix: String) {
        self.table = table
        self.prefix = prefix
    }

    private func value(_ key: String) -> TOMLValueConvertible? {
        used.insert(key)
        return table[key]
    }

    private func bad(_ key: String, _ expected: String) -> ConfigError {
        .badValue(key: prefix + key, reason: "expected \(expected)")
    }

    func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else { throw bad(key, "a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.bool else { throw bad(key, "true or false") }
        return b
    }

    func int(_ key: String, min: Int) throws -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.int, i >= min else { throw bad(key, "an integer ≥ \(min)") }
        return i
    }

    func seconds(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.double ?? v.int.map(Double.init), d >= 0 else { throw bad(key, "a number of seconds ≥ 0") }
        return d
    }

    func strings(_ key: String) throws -> [String]? {
        guard let v = value(key) else { return nil }
        guard let a = v.array else { throw bad(key, "an array of strings") }
        return try a.map { e in
            guard let s = e.string else { throw bad(key, "an array of strings") }
            return s
        }
    }

    /// An array of tables (`[[name]]`).
    func tables(_ key: String) throws -> [TOMLTable]? {
        guard let v = value(key) else { return nil }
        guard let a = v.array else { throw bad(key, "an array of tables ([[\(key)]])") }
        return try a.map { e in
            guard let t = e.table else { throw bad(key, "an array of tables ([[\(key)]])") }
            return t
        }
    }

    func table(_ key: String) throws -> TOMLTable? {
        guard let v = value(key) else { return nil }
        guard let t = v.table else { throw bad(key, "a table") }
        return t
    }

    func rejectUnknown() throws {
        if let extra = table.keys.sorted().first(where: { !used.contains($0) }) {
            throw ConfigError.unknownKey(prefix + extra)
        }
    }
}
