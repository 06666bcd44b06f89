import Foundation
import GRDB

/// The time window of a stats report: `since`/`until` are ISO 8601 UTC times (`2026-01-01T00:00:00Z`) or ages
/// before now (`90s`, `30m`, `24h`, `7d`). Defaults: the last 24 hours.
public struct StatsWindow: Sendable, Equatable {
    public var since: Date
    public var until: Date

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case invalid(field: String, value: String)
        case empty(since: String, until: String)

        public var description: String {
            switch self {
            case .invalid(let field, let value):
                "'\(field)' must be an ISO 8601 UTC time like 2026-01-01T00:00:00Z or an age like 90s, 30m, 24h or 7d, not '\(value.prefix(40))'"
            case .empty(let since, let until): "'since' (\(since)) must be before 'until' (\(until))"
            }
        }
    }

    public init(since: Date, until: Date) {
        self.since = since
        self.until = until
    }

    public static func parse(since: String?, until: String?, now: Date = Date()) throws(Problem) -> StatsWindow {
        let end = try until.map { v throws(Problem) in try time(v, field: "until", now: now) } ?? now
        let start = try since.map { v throws(Problem) in try time(v, field: "since", now: now) } ?? end.addingTimeInterval(-86_400)
        guard start < end else { throw .empty(since: Timestamp.string(start), until: Timestamp.string(end)) }
        return StatsWindow(since: start, until: end)
    }

    static func time(_ text: String, field: String, now: Date) throws(Problem) -> Date {
        if let date = Timestamp.date(text), Timestamp.string(date) == text { return date }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let n = Int(text.dropLast()), n >= 0, n <= 36_500 * 86_400 / Int(unit) else {
            throw .invalid(field: field, value: text)
        }
        return now.addingTimeInterval(-Double(n) * unit)
    }

    public var hours: Double { until.timeIntervalSince(since) / 3600 }
}

/// What `GET /api/stats` and `inboxd stats` report over a window (README, "Analytics"). Times have whole seconds, so
/// both ends are inclusive: a job that ended in the current second counts in a window that ends now. Jobs count by when they were
/// created (`jobs.by_status`) or finished (everything else: throughput, phases, failures, CPU, bytes).
public struct JobStats: Codable, Sendable, Equatable {
    public struct Distribution: Codable, Sendable, Equatable {
        public var count: Int
        public var p50: Double?
        public var p95: Double?
        public var max: Double?

        /// Nearest-rank percentiles of `values`.
        public init(_ values: [Double]) {
            let v = values.sorted()
            count = v.count
            func rank(_ p: Double) -> Double? { v.isEmpty ? nil : v[Swift.max(0, Int((p * Double(v.count)).rounded(.up)) - 1)] }
            p50 = rank(0.5)
            p95 = rank(0.95)
            max = v.last
        }

        /// Nulls are written, not left out (every JSON answer carries its null fields).
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(count, forKey: .count)
            try c.encode(p50, forKey: .p50)
            try c.encode(p95, forKey: .p95)
            try c.encode(max, forKey: .max)
        }
    }

    public struct Jobs: Codable, Sendable, Equatable {
        /// Jobs created in the window, by their status now.
        public var created: Int
        public var by_status: [String: Int]
        /// Jobs that ended in the window (ready or failed).
        public var finished: Int
        public var ready: Int
        public var failed: Int
    }

    public struct Throughput: Codable, Sendable, Equatable {
        public var jobs_per_hour: Double
        public var media_hours_per_hour: Double
    }

    public struct Failures: Codable, Sendable, Equatable {
        public struct Reason: Codable, Sendable, Equatable {
            public var count: Int
            public var rate: Double
        }
        /// Failed / finished (0 when nothing finished).
        public var rate: Double
        public var by_reason: [String: Reason]
    }

    public struct Bytes: Codable, Sendable, Equatable {
        public var `in`: Int64
        public var out: Int64
    }

    public var since: String
    public var until: String
    public var jobs: Jobs
    public var throughput: Throughput
    /// Wall seconds per phase of the finished jobs' last attempts: `queued` (waiting for a worker), `downloading`,
    /// `probing`, `converting`, `uploading`.
    public var phases: [String: Distribution]
    public var speed_factor: Distribution
    public var cpu_seconds: Distribution
    /// CPU seconds of the libav work per minute of converted media, over the ready jobs.
    public var cpu_seconds_per_media_minute: Double?
    public var failures: Failures
    /// Deferred retries (a transient failure waiting for its next attempt) that began in the window.
    public var retries: Int
    public var bytes: Bytes

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(since, forKey: .since)
        try c.encode(until, forKey: .until)
        try c.encode(jobs, forKey: .jobs)
        try c.encode(throughput, forKey: .throughput)
        try c.encode(phases, forKey: .phases)
        try c.encode(speed_factor, forKey: .speed_factor)
        try c.encode(cpu_seconds, forKey: .cpu_seconds)
        try c.encode(cpu_seconds_per_media_minute, forKey: .cpu_seconds_per_media_minute)
        try c.encode(failures, forKey: .failures)
        try c.encode(retries, forKey: .retries)
        try c.encode(bytes, forKey: .bytes)
    }

    public static let phaseColumns: [(name: String, column: String)] = [
        ("queued", "queued_s"), ("downloading", "download_s"), ("probing", "probe_s"), ("converting", "convert_s"), ("uploading", "upload_s"),
    ]

    /// The columns of the finished jobs the stats read (`finishedColumns`, then `make`).
    public static let finishedColumns = """
        status, failure_reason, duration_s, queued_s, download_s, probe_s, convert_s, upload_s, cpu_s, speed_factor, \
        input_bytes, output_bytes
        """

    public static func compute(_ db: Database, window: StatsWindow) throws -> JobStats {
        let since = Timestamp.string(window.since), until = Timestamp.string(window.until)
        var created: [String: Int] = [:]
        for r in try Row.fetchAll(db, sql: """
            SELECT status, COUNT(*) AS n FROM videos WHERE created_at >= ? AND created_at <= ? GROUP BY status
            """, arguments: [since, until]) {
            created[r["status"], default: 0] += r["n"] as Int
        }
        let finished = try Row.fetchAll(db, sql: """
            SELECT \(finishedColumns) FROM videos WHERE finished_at >= ? AND finished_at <= ? AND status IN (?, ?)
            """, arguments: [since, until, JobStatus.ready, JobStatus.failed])
        let retries = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE phase = ? AND at >= ? AND at <= ?",
                                       arguments: [JobPhase.retrying, since, until]) ?? 0
        return make(window: window, created: created, finished: finished, retries: retries)
    }

    /// The stats from what a store read for `window`: the jobs created in it by status, the rows (`finishedColumns`)
    /// of the jobs that finished in it, the deferred retries that began in it.
    public static func make(window: StatsWindow, created: [String: Int], finished: [Row], retries: Int) -> JobStats {
        let since = Timestamp.string(window.since), until = Timestamp.string(window.until)
        var byStatus = Dictionary(uniqueKeysWithValues: JobStatus.allCases.map { ($0.rawValue, 0) })
        for (status, n) in created { byStatus[status, default: 0] += n }
        let ready = finished.filter { $0["status"] == JobStatus.ready.rawValue }
        let failed = finished.count - ready.count
        let mediaSeconds = ready.compactMap { $0["duration_s"] as Double? }.reduce(0, +)
        var phases: [String: Distribution] = [:]
        for (name, column) in phaseColumns { phases[name] = Distribution(finished.compactMap { $0[column] as Double? }) }
        var reasons = Dictionary(uniqueKeysWithValues: FailureReason.allCases.map { ($0.rawValue, Failures.Reason(count: 0, rate: 0)) })
        for row in finished where row["status"] == JobStatus.failed.rawValue {
            let reason: String = row["failure_reason"] ?? FailureReason.other.rawValue
            reasons[reason, default: Failures.Reason(count: 0, rate: 0)].count += 1
        }
        for key in reasons.keys { reasons[key]!.rate = finished.isEmpty ? 0 : Double(reasons[key]!.count) / Double(finished.count) }
        let measured = ready.filter { ($0["cpu_s"] as Double?) != nil && (($0["duration_s"] as Double?) ?? 0) > 0 }
        let cpuTotal = measured.compactMap { $0["cpu_s"] as Double? }.reduce(0, +)
        let cpuMedia = measured.compactMap { $0["duration_s"] as Double? }.reduce(0, +)
        return JobStats(
            since: since, until: until,
            jobs: Jobs(created: byStatus.values.reduce(0, +), by_status: byStatus, finished: finished.count, ready: ready.count, failed: failed),
            throughput: Throughput(jobs_per_hour: Double(ready.count) / window.hours, media_hours_per_hour: mediaSeconds / 3600 / window.hours),
            phases: phases,
            speed_factor: Distribution(ready.compactMap { $0["speed_factor"] as Double? }),
            cpu_seconds: Distribution(ready.compactMap { $0["cpu_s"] as Double? }),
            cpu_seconds_per_media_minute: cpuMedia > 0 ? cpuTotal / (cpuMedia / 60) : nil,
            failures: Failures(rate: finished.isEmpty ? 0 : Double(failed) / Double(finished.count), by_reason: reasons),
            retries: retries,
            bytes: Bytes(in: finished.compactMap { $0["input_bytes"] as Int64? }.reduce(0, +),
                         out: finished.compactMap { $0["output_bytes"] as Int64? }.reduce(0, +)))
    }
}
