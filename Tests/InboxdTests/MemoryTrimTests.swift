import Foundation
import TestSupport
import Testing

/// A quiet daemon gives back the resident pages start-up and jobs touched once (`trim_memory`), and goes on
/// answering and converting with the pages it dropped.
@Suite struct MemoryTrimTests {
    /// `Rss:` of `/proc/PID/smaps_rollup`, in KiB.
    static func residentKiB(_ pid: Int32) throws -> Int {
        let rollup = try String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)
        let line = try #require(rollup.split(separator: "\n").first { $0.hasPrefix("Rss:") })
        return try #require(Int(line.split(separator: " ")[1]))
    }

    /// The `memory.rss_kib_*` pairs of every "released idle memory" line so far.
    static func trims(_ d: DaemonHarness) -> [(before: Int, after: Int)] {
        d.logText().split(separator: "\n").filter { $0.contains("released idle memory") }.compactMap { line in
            func value(_ key: String) -> Int? {
                guard let r = line.range(of: key + "=") else { return nil }
                return Int(line[r.upperBound...].prefix { $0.isNumber })
            }
            guard let before = value("memory.rss_kib_before"), let after = value("memory.rss_kib_after") else { return nil }
            return (before, after)
        }
    }

    static func waitForTrims(_ d: DaemonHarness, _ count: Int, timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Self.trims(d).count < count, Date() < deadline { usleep(50_000) }
        #expect(Self.trims(d).count >= count, "no memory trim #\(count) within \(timeout) s\n\(d.logText())")
    }

    @Test func aQuietDaemonTrimsAfterStartUpAndAfterAJobAndStillAnswersAndConverts() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1)
        var options = DaemonHarness.Options()
        options.extraTOML = "trim_memory_after_seconds = 2"
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        let pid = try #require(d.pid)
        try Self.waitForTrims(d, 1)  // start-up's: as soon as the daemon is ready
        let first = try #require(Self.trims(d).first)
        #expect(first.after < first.before, "\(first)")

        #expect(try d.status(UUID().uuidString.lowercased()).status == 404, "the API answers with the pages it dropped")
        try d.drop(media: src, as: "after-trim.mp4", sidecar: ["title": "after the trim"])
        let job = try d.waitFor(try d.videoID(title: "after the trim"))
        #expect(job["status"] as? String == "ready", "\(job)")
        // The last /status poll just ended: the next trim waits for 2 s of quiet.
        let afterJob = try Self.residentKiB(pid)
        let earlier = Self.trims(d).count  // a quiet spell before the job started may have trimmed too
        try Self.waitForTrims(d, earlier + 1)
        let trimmed = try Self.residentKiB(pid)
        #expect(trimmed < afterJob, "resident \(afterJob) KiB after the job, \(trimmed) KiB after the trim")
        let second = try #require(Self.trims(d).dropFirst(earlier).first)
        #expect(second.after < second.before, "libav's code and the HTTP path leave the resident set: \(second)")
        #expect(try d.status(UUID().uuidString.lowercased()).status == 404)
        #expect(d.isRunning)
    }

    @Test func trimMemoryFalseTurnsItOff() throws {
        var options = DaemonHarness.Options()
        options.extraTOML = "trim_memory = false\ntrim_memory_after_seconds = 0"
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        #expect(try d.status(UUID().uuidString.lowercased()).status == 404)
        // With the trim on and no quiet time, one follows readiness within a tick (50 ms): a second is plenty to
        // see that none comes (an absence cannot be polled for).
        Thread.sleep(forTimeInterval: 1)
        #expect(d.stop() == 0)
        #expect(Self.trims(d).isEmpty, "\(d.logText())")
    }

    @Test func aNegativeQuietTimeIsAConfigError() throws {
        var options = DaemonHarness.Options()
        options.extraTOML = "trim_memory_after_seconds = -1"
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        let run = try d.runToExit()
        #expect(run.status != 0)
        #expect(run.output.contains("trim_memory_after_seconds"), "\(run.output)")
    }
}
