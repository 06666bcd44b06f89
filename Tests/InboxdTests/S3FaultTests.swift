import Foundation
import TestSupport
import Testing

/// S3 misbehaves the ways it does in production — 503 and SlowDown bursts, connections reset mid-upload, answers
/// that never come, an outage longer than the in-request retries — and every job still ends `ready`, through the
/// daemon's deferred retries. A 403 is not transient: it fails the job at once. A fault-injecting proxy on
/// 127.0.0.1 sits between inboxd and SeaweedFS.
@Suite(.serialized) struct S3FaultTests {
    enum Burst: String, CaseIterable, CustomTestStringConvertible {
        case serviceUnavailable, slowDown, resetMidBody, stall, outage

        var testDescription: String { rawValue }

        func arm(_ proxy: FaultProxy) {
            switch self {
            case .serviceUnavailable: proxy.inject(.serviceUnavailable, next: 8)
            case .slowDown: proxy.inject(.slowDown, next: 8)
            case .resetMidBody: proxy.inject(.resetMidBody, next: 6)
            // Longer than two request timeouts: the in-request retries give up, the job waits and tries again.
            case .stall: proxy.inject(.stall, for: 6)
            case .outage: proxy.inject(.outage, for: 6)
            }
        }

        var fault: FaultProxy.Fault {
            switch self {
            case .serviceUnavailable: .serviceUnavailable
            case .slowDown: .slowDown
            case .resetMidBody: .resetMidBody
            case .stall: .stall
            case .outage: .outage
            }
        }
    }

    /// In-request retries kept short, so every burst outlasts them: 2 tries per request, 2 s per request.
    private static let inRequestRetries = """
        max_attempts = 2
        retry_base_delay_seconds = 0.1
        retry_max_delay_seconds = 0.2
        connect_timeout_seconds = 1
        request_timeout_seconds = 2
        parallelism = 1
        """

    private func rig(bucket: String, maxAttempts: Int = 30) throws -> (SeaweedFS, FaultProxy, DaemonHarness) {
        let s3 = try SeaweedFS(bucket: bucket)
        let proxy = try FaultProxy(upstream: s3.endpoint)
        var options = DaemonHarness.Options()
        options.workers = 2
        options.settleSeconds = 0.2
        options.extraTOML = s3TOML(s3, prefix: "faults", endpoint: proxy.endpoint, extra: Self.inRequestRetries)
            + retryTOML(baseSeconds: 0.5, maxSeconds: 2, maxAttempts: maxAttempts)
        let d = try DaemonHarness(options)
        return (s3, proxy, d)
    }

    @Test(.enabled(if: !SeaweedFS.externalFromEnvironment, "proxies the local S3 server"), arguments: Burst.allCases)
    func aBurstOfS3FaultsIsRiddenOutByDeferredRetries(_ burst: Burst) throws {
        var report = FaultReport(scenario: "S3 \(burst.rawValue)")
        let (s3, proxy, d) = try rig(bucket: "faults-\(burst.rawValue.lowercased())")
        defer { d.cleanUp(); proxy.stop(); s3.stop() }
        let media = try MediaFactory()
        let kinds = [
            try media.h264AAC(seconds: 3, width: 160, height: 120, gopSeconds: 1, name: "a.mp4"),
            try media.vp9Opus(seconds: 2, width: 160, height: 120, name: "b.webm"),
            try media.h264AAC(seconds: 2, width: 160, height: 120, gopSeconds: 1, name: "c.mp4"),
        ]
        let sources = (0..<FaultRun.scale(3, soak: 12)).map { kinds[$0 % kinds.count] }
        try d.start()
        burst.arm(proxy)
        let titles = sources.indices.map { "\(burst.rawValue) \($0) \((sources[$0] as NSString).lastPathComponent)" }
        for (i, (src, title)) in zip(sources, titles).enumerated() {
            try d.drop(media: src, as: "\(i)-" + (src as NSString).lastPathComponent, sidecar: ["title": title])
        }
        for title in titles { _ = try d.waitFor(try d.videoID(title: title), timeout: 180) }

        #expect(proxy.injected(burst.fault) > 0, "the proxy never injected \(burst.fault)")
        #expect(!proxy.hasPendingFaults, "the burst was not used up")
        let deferred = try d.sql("SELECT count(DISTINCT video_id) FROM events WHERE phase='retrying'")
        #expect((Int(deferred) ?? 0) >= 1, "no job was deferred: the burst never outlasted the in-request retries")
        #expect((Int(try d.sql("SELECT max(attempts) FROM videos")) ?? 0) >= 2)
        let metrics = try HTTPClient.get("\(d.baseURL)/metrics").body
        let retries = metrics.split(separator: "\n").filter { $0.hasPrefix("inboxd_job_retries_total{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        let jobMetrics = metrics.split(separator: "\n").filter { $0.hasPrefix("inboxd_job") }
        #expect(retries >= 1, "inboxd_job_retries_total does not count the deferred retries: \(jobMetrics)")

        let ids = try expectEachReadyExactlyOnce(d, titles: titles, report: &report)
        try expectExactlyThePublishedObjects(s3, prefix: "faults/videos/", ids: Set(ids.values), report: &report)
        for (src, title) in zip(sources, titles) {
            if let id = ids[title], let j = try d.status(id).json { _ = try Check.playable(j, sourcePath: src) }
        }
        report.notes = "\(proxy.injected(burst.fault)) faults injected, \(proxy.forwarded) requests forwarded, "
            + "\(try d.sql("SELECT sum(attempts) FROM videos")) attempts"
        report.print()
    }

    @Test(.enabled(if: !SeaweedFS.externalFromEnvironment, "proxies the local S3 server"))
    func a403FailsTheJobAtOnceWithoutRetries() throws {
        let (s3, proxy, d) = try rig(bucket: "faults-forbidden")
        defer { d.cleanUp(); proxy.stop(); s3.stop() }
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 2, width: 160, height: 120)
        try d.start()
        proxy.inject(.forbidden, for: 600)
        try d.drop(media: src, as: "denied.mp4", sidecar: ["title": "denied"])
        let id = try d.videoID(title: "denied")

        let j = try d.waitFor(id, timeout: 60)

        #expect(j["status"] as? String == "failed", "\(j)")
        #expect(j["failure_reason"] as? String == "publish", "\(j)")
        #expect((j["error"] as? String ?? "").contains("403 AccessDenied"), "\(j)")
        #expect(try d.sql("SELECT attempts FROM videos WHERE video_id='\(id)'") == "1")
        #expect(try d.sql("SELECT count(*) FROM events WHERE video_id='\(id)' AND phase='retrying'") == "0")
        #expect(proxy.injected(.forbidden) == 1, "a 403 is not retried within the request either")
        #expect(proxy.forwarded == 0)
        #expect(FileManager.default.fileExists(atPath: "\(d.inbox)/failed/\(id)/denied.mp4"))
        Check.inboxIsClean(d)
    }
}
