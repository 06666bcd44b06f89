import Foundation
import TestSupport
import Testing

/// The `[retry]` table of the daemon's deferred retries, short enough for tests.
func retryTOML(baseSeconds: Double = 0.5, maxSeconds: Double = 2, maxAttempts: Int) -> String {
    """

    [retry]
    base_seconds = \(baseSeconds)
    max_seconds = \(maxSeconds)
    max_attempts = \(maxAttempts)

    """
}

/// One line of the closing table of a fault scenario, printed so a run's log has the numbers.
struct FaultReport {
    let scenario: String
    var runs = 1
    var jobs = 0
    var lost = 0
    var duplicated = 0
    var crashes = 0
    var notes = ""
    let started = Date()

    func print() {
        let seconds = String(format: "%.0f s", Date().timeIntervalSince(started))
        Swift.print("[fault-injection] | \(scenario) | runs \(runs) | jobs \(jobs) | lost \(lost) | duplicated \(duplicated) "
            + "| daemon crashes \(crashes) | \(seconds) |\(notes.isEmpty ? "" : " \(notes)")")
    }
}

/// What every fault scenario must end with: each drop (by title) has exactly one row, which is `ready` and was
/// made `ready` by exactly one event; nothing waits in `incoming/`, `processing/` or `work/`; the db is sound.
/// Returns title → video_id, and counts lost and duplicated jobs into `report`.
@discardableResult
func expectEachReadyExactlyOnce(_ d: DaemonHarness, titles: [String], report: inout FaultReport) throws -> [String: String] {
    report.jobs = titles.count
    var ids: [String: String] = [:]
    var rowsPerTitle: [String: Int] = [:]
    for line in try d.sql("SELECT title || '|' || video_id || '|' || status FROM videos").split(separator: "\n") {
        let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard f.count == 3, titles.contains(f[0]) else { continue }
        rowsPerTitle[f[0], default: 0] += 1
        if f[2] == "ready" { ids[f[0]] = f[1] }
    }
    let lost = titles.filter { ids[$0] == nil }
    let extraRows = rowsPerTitle.values.reduce(0) { $0 + max(0, $1 - 1) }
    var readyEvents: [String: Int] = [:]
    for line in try d.sql("SELECT video_id || '|' || count(*) FROM events WHERE status='ready' GROUP BY video_id").split(separator: "\n") {
        let f = line.split(separator: "|")
        if f.count == 2, Set(ids.values).contains(String(f[0])) { readyEvents[String(f[0])] = Int(f[1]) }
    }
    let repeated = readyEvents.filter { $0.value != 1 }.map(\.key)
    report.lost += lost.count
    report.duplicated += extraRows + repeated.count
    #expect(lost.isEmpty, "jobs not ready: \(lost.map { "\($0): \((try? d.sql("SELECT status || '/' || phase || ' ' || coalesce(error, '') FROM videos WHERE title='\($0)'")) ?? "?")" })")
    #expect(extraRows == 0, "drops claimed more than once: \(rowsPerTitle.filter { $0.value > 1 })")
    #expect(repeated.isEmpty, "jobs made ready more than once: \(repeated)")
    #expect(readyEvents.count == ids.count, "ready rows without a ready event: \(Set(ids.values).subtracting(readyEvents.keys))")
    #expect(try d.integrityCheck() == "ok")
    // A claim killed before its sidecar rename leaves an empty job directory that recovery removes after a minute.
    // Scratch has no such timer: whatever is left in work/ once the jobs ended stays there.
    let clean = spin(timeout: 90, every: 200_000) { Check.entries(d.inbox + "/processing").isEmpty }
        && spin(timeout: 5, every: 200_000) { Check.entries(d.inbox + "/work").isEmpty }
    if !clean {
        let tree = (try? Shell.run("find", [d.inbox + "/processing", d.inbox + "/work", "-maxdepth", "2"]).stdout) ?? ""
        let rows = (try? d.sql("SELECT video_id, status, phase, title FROM videos WHERE status != 'ready'")) ?? ""
        Issue.record(Comment(rawValue: "processing/ or work/ not empty once every job ended:\n\(tree)\nrows not ready: \(rows)"))
    }
    Check.inboxIsClean(d)
    let leftovers = (try? FileManager.default.subpathsOfDirectory(atPath: d.incoming)) ?? []
    #expect(leftovers.isEmpty, "incoming/ keeps \(leftovers)")
    return ids
}

/// Watches `/healthz` from its own thread (every `interval` s) while the daemon is meant to be up, and counts the
/// polls that got no 200 while the process was running. Restarts go through `restarting`, so a daemon that is
/// still starting is not counted against it.
final class HealthWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var suspended = false
    private var generation = 0
    private var polls = 0
    private var failures: [String] = []
    private let done = DispatchSemaphore(value: 0)

    init(_ d: DaemonHarness, interval: Double = 0.25) {
        let thread = Thread { [self] in
            while !lock.withLock({ stopped }) {
                let (skip, before) = lock.withLock { (suspended, generation) }
                if !skip, d.isRunning {
                    let r = try? HTTPClient.request(["--max-time", "10", d.baseURL + "/healthz"])
                    // A poll that raced a crash or a restart is theirs to report, not a health failure.
                    lock.withLock {
                        guard generation == before, !suspended, d.isRunning else { return }
                        polls += 1
                        if r?.status != 200 { failures.append("\(Date()): \(r.map { "\($0.status) \($0.body)" } ?? "no answer")") }
                    }
                }
                Thread.sleep(forTimeInterval: interval)
            }
            done.signal()
        }
        thread.start()
    }

    /// Runs `body` (a crash's aftermath and a restart) without health polls.
    func restarting(_ body: () throws -> Void) rethrows {
        lock.withLock { suspended = true; generation += 1 }
        defer { lock.withLock { suspended = false; generation += 1 } }
        try body()
    }

    /// Stops watching; returns (polls, failures).
    func stop() -> (polls: Int, failures: [String]) {
        lock.withLock { stopped = true }
        done.wait()
        return lock.withLock { (polls, failures) }
    }
}
