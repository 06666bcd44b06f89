import Foundation
import GRDB
import HTTPKit
import Hummingbird
import Metrics
import Prometheus
import Store
import Synchronization

/// `GET /metrics` in the Prometheus text format. Job gauges (`inboxd_jobs{status}`, `inboxd_queue_depth`,
/// `inboxd_jobs_failed{phase}`, `inboxd_job_failures{reason}`) are read from the db at scrape time, so they are right whichever process (or admin
/// SQL) changed the rows. Phase durations come from the audit log: each scrape reads the events appended since the
/// last one and records, per job, how long it stayed in the phase it just left. Process-local metrics (HTTP requests
/// from Hummingbird's `MetricsMiddleware`, upload bytes) arrive through swift-metrics, bootstrapped onto the same
/// registry with `HTTPMetricNames` naming them.
public final class InboxMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let phaseDurations: [JobPhase: ValueHistogram]
    private let tracker = Mutex(PhaseTracker())

    enum Name {
        static func make(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "inboxd", metricName: name, unitName: unit, helpText: help)
        }
        static var jobs: MetricNameDescriptor { make("jobs", "Jobs by status (from the db)") }
        static var queueDepth: MetricNameDescriptor { make("queue_depth", "Jobs waiting for a worker (status processing, phase queued)") }
        static var jobsFailed: MetricNameDescriptor { make("jobs_failed", "Failed jobs by the phase they failed in (from the db)") }
        static var failuresByReason: MetricNameDescriptor { make("job_failures", "Failed jobs by failure_reason (from the db)") }
        static var readyBytes: MetricNameDescriptor { make("processed_input", unit: "bytes", "Media bytes of ready jobs (from the db)") }
        static var phaseDuration: MetricNameDescriptor { make("phase_duration", unit: "seconds", "Time jobs spent in each phase (from the events audit log, 1 s resolution)") }
    }

    public static let phaseBuckets: [Double] = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]

    /// Creates the registry and makes it the process's swift-metrics backend (once per process).
    public static func bootstrap() -> InboxMetrics {
        let metrics = InboxMetrics()
        var factory = PrometheusMetricsFactory(registry: metrics.registry)
        factory.nameAndLabelSanitizer = HTTPMetricNames.prometheus
        factory.valueHistogramBuckets[InboxMetricNames.jobCPU] = InboxMetricNames.cpuBuckets
        factory.valueHistogramBuckets[InboxMetricNames.speedFactor] = InboxMetricNames.speedBuckets
        MetricsSystem.bootstrap(factory)
        // Listed from the first scrape, before any job has finished.
        _ = Recorder(label: InboxMetricNames.jobCPU, aggregate: true)
        _ = Recorder(label: InboxMetricNames.speedFactor, aggregate: true)
        return metrics
    }

    public init() {
        registry = PrometheusCollectorRegistry()
        var durations: [JobPhase: ValueHistogram] = [:]
        for phase in JobPhase.allCases where phase != .done {
            durations[phase] = registry.makeValueHistogram(descriptor: Name.phaseDuration, labels: [("phase", phase.rawValue)], buckets: Self.phaseBuckets)
        }
        phaseDurations = durations
    }

    /// Refreshes the db-derived metrics and renders everything.
    public func scrape(_ db: some DatabaseReader) async throws -> [UInt8] {
        try await scrape { lastEvent in try await db.read { db in try Snapshot(db, afterEvent: lastEvent) } }
    }

    /// The same from any store: `read` gives the totals and the audit entries after the id it is passed.
    public func scrape(reading read: (Int64) async throws -> Snapshot) async throws -> [UInt8] {
        let lastEvent = tracker.withLock { $0.lastEventID }
        let snapshot = try await read(lastEvent)
        let totals = snapshot.totals
        for status in JobStatus.allCases {
            registry.makeGauge(descriptor: Name.jobs, labels: [("status", status.rawValue)])
                .set(Double(totals.byStatus[status] ?? 0))
        }
        registry.makeGauge(descriptor: Name.queueDepth)
            .set(Double(totals.queued))
        for phase in JobPhase.allCases {
            registry.makeGauge(descriptor: Name.jobsFailed, labels: [("phase", phase.rawValue)])
                .set(Double(totals.failedByPhase[phase] ?? 0))
        }
        for reason in FailureReason.allCases {
            registry.makeGauge(descriptor: Name.failuresByReason, labels: [("reason", reason.rawValue)])
                .set(Double(totals.failedByReason[reason] ?? 0))
        }
        registry.makeGauge(descriptor: Name.readyBytes)
            .set(Double(totals.readyBytes))
        let finished = tracker.withLock { $0.apply(snapshot.events) }
        for (phase, seconds) in finished { phaseDurations[phase]?.record(seconds) }
        return registry.emitToBuffer()
    }

    public func register<Context: RequestContext>(on router: Router<Context>, store: StatusStore) {
        register(on: router) { lastEvent in try await store.bulk.read { db in try Snapshot(db, afterEvent: lastEvent) } }
    }

    /// `/metrics` over any store (the shared PostgreSQL one of a node of several). `node`: a `node="…"` label on every
    /// sample, so one Prometheus scraping every node keeps them apart (the db-wide gauges then read the same on each).
    public func register<Context: RequestContext>(on router: Router<Context>, node: String? = nil,
                                                  reading read: @escaping @Sendable (Int64) async throws -> Snapshot) {
        router.get("/metrics") { _, _ -> Response in
            var text = try await self.scrape(reading: read)
            if let node { text = PrometheusText.addingLabel("node", node, to: text) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
    }

    /// One read transaction's worth: the job totals and the audit entries appended since the last scrape.
    public struct Snapshot: Sendable {
        public var totals: VideoQueries.Totals
        public var events: [EventRow]

        public init(totals: VideoQueries.Totals, events: [EventRow]) {
            self.totals = totals
            self.events = events
        }

        init(_ db: Database, afterEvent: Int64) throws {
            totals = try VideoQueries.totals(db)
            events = try VideoQueries.events(db, after: afterEvent, limit: 100_000)
        }
    }
}

/// Histograms the job runner records through swift-metrics when a job is ready (README, "Analytics").
public enum InboxMetricNames {
    /// CPU seconds of a job's libav work (`videos.cpu_s`).
    public static let jobCPU = "inboxd_job_cpu_seconds"
    /// Media seconds converted per wall second of the converting phase (`videos.speed_factor`).
    public static let speedFactor = "inboxd_job_speed_factor"
    public static let cpuBuckets: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800]
    public static let speedBuckets: [Double] = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000]
}

/// Per job, the phase it is in and since when; turns consecutive audit-log entries into phase durations.
struct PhaseTracker: Sendable {
    var lastEventID: Int64 = 0
    private var current: [String: (phase: JobPhase?, at: Date)] = [:]

    mutating func apply(_ events: [EventRow]) -> [(JobPhase, Double)] {
        var finished: [(JobPhase, Double)] = []
        for e in events {
            if let id = e.id { lastEventID = max(lastEventID, id) }
            guard let at = Timestamp.date(e.at) else { continue }
            if let open = current[e.videoID], open.phase != e.phase || e.status != .processing {
                if let phase = open.phase { finished.append((phase, max(0, at.timeIntervalSince(open.at)))) }
                current[e.videoID] = nil
            }
            if e.status == .processing, current[e.videoID] == nil {
                current[e.videoID] = (e.phase, at)
            }
        }
        return finished
    }
}
