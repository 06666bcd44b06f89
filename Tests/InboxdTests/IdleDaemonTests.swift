import Foundation
import TestSupport
import Testing

/// An idle daemon sleeps: every loop (watcher, recovery, upload sweeper, webhook deliverer, scheduler) waits for its
/// next event or tick. A loop that spins shows up as CPU time close to the wall time; the bound is a tenth of that.
@Suite struct IdleDaemonTests {
    /// utime + stime of `pid`, in seconds (proc(5): fields 14 and 15, after the command name).
    static func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (try #require(Double(fields[11])) + (try #require(Double(fields[12])))) / ticks
    }

    @Test func anIdleDaemonWithAWebhookConfiguredDoesNotSpin() throws {
        var options = DaemonHarness.Options()
        options.extraTOML = """
            [[webhooks]]
            url = "http://example.invalid/hook"
            secret = "s3cret"
            """
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        let pid = try #require(d.pid)
        Thread.sleep(forTimeInterval: 2)  // past start-up and the first idle timeouts of every loop
        let before = try Self.cpuSeconds(pid)
        let wall = 4.0
        Thread.sleep(forTimeInterval: wall)
        let used = try Self.cpuSeconds(pid) - before
        #expect(used < wall / 10, "the idle daemon used \(used) CPU s in \(wall) s")
        #expect(try d.status(UUID().uuidString.lowercased()).status == 404, "and it still answers")
    }
}
