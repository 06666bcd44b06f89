import ArgumentParser
import Foundation
import HTTPKit
import Logging
import Store

/// `inboxd stats [--since 24h] [--until T] [--json]`: the `/api/stats` report, read from the store directly (read-only;
/// the shared PostgreSQL one with `[store] url`),
/// as a table or as the endpoint's JSON.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Job statistics over a window: counts, throughput, phase times, failures, CPU, bytes.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Start: an ISO 8601 UTC time (2026-01-01T00:00:00Z) or an age (90s, 30m, 24h, 7d). Default 24h.")
    var since: String?
    @Option(help: "End, in the same forms. Default: now.") var until: String?
    @Flag(help: "Print the JSON of GET /api/stats instead of a table.") var json = false

    func run() async throws {
        let window: StatsWindow
        do throws(StatsWindow.Problem) { window = try StatsWindow.parse(since: since, until: until) } catch {
            throw ValidationError(error.description)
        }
        do {
            let config = try common.load()
            let stats: JobStats
            if let shared = config.store, common.db == nil {
                stats = try await PGJobStore.with(url: shared.url, node: shared.node, leaseSeconds: shared.leaseSeconds,
                                                  logger: Logger(label: "inboxd.store")) { try await $0.stats(window: window) }
            } else {
                let db = try StoreDatabase.openReader(path: config.db)
                stats = try await db.read { db in try JobStats.compute(db, window: window) }
            }
            if json {
                print(String(decoding: try JSONEncoder.api.encode(stats), as: UTF8.self))
            } else {
                print(Self.table(stats))
            }
        } catch { throw fail(error) }
    }

    static func table(_ s: JobStats) -> String {
        func n(_ v: Double?, _ digits: Int = 2) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "-" }
        var lines = [
            "window:      \(s.since) .. \(s.until)",
            "created:     \(s.jobs.created) (" + JobStatus.allCases.map { "\($0.rawValue) \(s.jobs.by_status[$0.rawValue] ?? 0)" }.joined(separator: ", ") + ")",
            "finished:    \(s.jobs.finished) (ready \(s.jobs.ready), failed \(s.jobs.failed), failure rate \(n(s.failures.rate * 100, 1)) %)",
            "throughput:  \(n(s.throughput.jobs_per_hour)) jobs/h, \(n(s.throughput.media_hours_per_hour, 3)) media h/h",
            "retries:     \(s.retries)",
            "cpu:         \(n(s.cpu_seconds_per_media_minute)) CPU s per media minute",
            "bytes:       in \(s.bytes.in), out \(s.bytes.out)",
            "",
            "seconds       count      p50      p95      max",
        ]
        func row(_ name: String, _ d: JobStats.Distribution) -> String {
            name.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: "%7d", d.count)
                + [d.p50, d.p95, d.max].map { n($0).leftPadded(9) }.joined()
        }
        for (name, _) in JobStats.phaseColumns { lines.append(row(name, s.phases[name] ?? JobStats.Distribution([]))) }
        lines.append(row("cpu", s.cpu_seconds))
        lines.append(row("speed (x)", s.speed_factor))
        let failures = s.failures.by_reason.filter { $0.value.count > 0 }.sorted { ($1.value.count, $0.key) < ($0.value.count, $1.key) }
        if !failures.isEmpty {
            lines.append("")
            lines.append("failures by reason:")
            for (reason, r) in failures { lines.append("  \(reason.padding(toLength: 18, withPad: " ", startingAt: 0)) \(r.count) (\(n(r.rate * 100, 1)) %)") }
        }
        return lines.joined(separator: "\n")
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
