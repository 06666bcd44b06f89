import Foundation
import TestSupport
import Testing

/// Under systemd (`Type=notify`, `WatchdogSec=`) the daemon reports readiness, status, stop and liveness on the
/// socket in `NOTIFY_SOCKET`; the test binds that socket itself, as systemd would.
@Suite(.serialized) struct SystemdNotifyTests {
    /// What was true at the instant READY=1 arrived, looked at while the daemon was frozen (SIGSTOP) there.
    final class ReadyWitness: @unchecked Sendable {
        let lock = NSLock()
        var listening: Bool?
        var watching: Bool?
        weak var daemon: DaemonHarness?
    }

    static func daemon(_ notify: NotifySocket, environment: [String: String] = [:]) throws -> DaemonHarness {
        var o = DaemonHarness.Options()
        o.environment = environment.merging(["NOTIFY_SOCKET": notify.name]) { $1 }
        return try DaemonHarness(o)
    }

    @Test(arguments: [false, true])
    func readyComesOnlyOnceHTTPListensAndTheInboxIsWatchedThenStatusAndStoppingOnSIGTERM(abstract: Bool) throws {
        let witness = ReadyWitness()
        let notify = try NotifySocket(abstract: abstract) { message in
            guard message.lines.contains("READY=1"), let d = witness.lock.withLock({ witness.daemon }), let pid = d.pid else { return }
            kill(pid, SIGSTOP)
            defer { kill(pid, SIGCONT) }
            // While it is frozen, the kernel still completes a TCP connect if (and only if) the socket listens.
            let connection = try? RawConnection(port: d.port)
            let watching = d.logText().contains("watching inbox")
            witness.lock.withLock {
                witness.listening = connection != nil
                witness.watching = watching
            }
        }
        defer { notify.stop() }
        let d = try Self.daemon(notify)
        defer { d.cleanUp() }
        witness.lock.withLock { witness.daemon = d }
        try d.start()
        let ready = try notify.wait(for: "READY=1")
        #expect(witness.lock.withLock { witness.listening } == true, "READY=1 before the HTTP server listened")
        #expect(witness.lock.withLock { witness.watching } == true, "READY=1 before the inotify watches existed")
        #expect(notify.messages(with: "READY=1").count == 1)
        #expect(notify.messages(with: "WATCHDOG=1").isEmpty, "no WATCHDOG_USEC, no pings")

        _ = try eventually(timeout: 10, "a STATUS line after READY") { notify.messages(with: "STATUS=").first { $0.at > ready.at } }
        let statuses = notify.messages.flatMap(\.lines).filter { $0.hasPrefix("STATUS=") && $0 != "STATUS=stopping" }
        #expect(statuses.allSatisfy { $0.range(of: #"^STATUS=\d+ running, \d+ queued, \d+ retrying$"#, options: .regularExpression) != nil },
                "\(statuses)")
        #expect(statuses.last == "STATUS=0 running, 0 queued, 0 retrying")

        #expect(d.stop() == 0)
        let stopping = try notify.wait(for: "STOPPING=1", timeout: 5)
        #expect(stopping.at > ready.at)
    }

    @Test func watchdogPingsComeEveryHalfIntervalWhileTheLoopsRunAndStopWhenTheSchedulerIsWedged() throws {
        let healthy = try NotifySocket()
        defer { healthy.stop() }
        let d = try Self.daemon(healthy, environment: ["WATCHDOG_USEC": "500000"])
        defer { d.cleanUp() }
        try d.start()
        let ready = try healthy.wait(for: "READY=1")
        Thread.sleep(forTimeInterval: 4)
        let pings = healthy.messages(with: "WATCHDOG=1").map(\.at)
        #expect(pings.count >= 8, "\(pings.count) pings in 4 s at a 0.25 s interval")
        #expect(pings.contains { $0 > Date().addingTimeInterval(-1) }, "pings still coming after 4 s")
        #expect(pings.allSatisfy { $0 > ready.at }, "no ping before READY=1")
        d.stop()

        let wedged = try NotifySocket()
        defer { wedged.stop() }
        let w = try Self.daemon(wedged, environment: ["WATCHDOG_USEC": "500000", "INBOXD_TEST_WEDGE": "scheduler"])
        defer { w.cleanUp() }
        try w.start()
        _ = try wedged.wait(for: "READY=1")
        try w.waitForLog("a loop stopped making progress", timeout: 20)
        #expect(w.logText().contains("loop=scheduler"), "\(w.logText().suffix(2000))")
        let before = wedged.messages(with: "WATCHDOG=1").count
        let statusesBefore = wedged.messages(with: "STATUS=").count
        Thread.sleep(forTimeInterval: 3)
        #expect(wedged.messages(with: "WATCHDOG=1").count == before, "pings went on with the scheduler wedged")
        #expect(wedged.messages(with: "STATUS=").count > statusesBefore, "the notifier itself kept running (STATUS lines)")
        #expect(w.isRunning, "the daemon does not exit by itself: systemd's watchdog restarts it")
    }
}
