import Foundation
import Logging
import ServiceLifecycle

/// Tells systemd (`Type=notify`) how the daemon is: `READY=1` once HTTP listens and the watcher watches, a
/// `STATUS=` line every few seconds, `WATCHDOG=1` every `WATCHDOG_USEC/2` while every heartbeat is recent, and
/// `STOPPING=1` when a graceful stop begins. Listed last in the service group, so it hears the stop first.
struct SystemdService: Service {
    let notifier: SystemdNotifier
    let readiness: ReadinessFlags
    let heartbeats: [Heartbeat]
    /// Half of `WATCHDOG_USEC`, nil when systemd set no watchdog for this process.
    let watchdogInterval: Double?
    /// A beat older than this means its loop is wedged; above the slowest loop's own period.
    let staleAfterSeconds: Double
    let statusSeconds: Double = 2
    let status: @Sendable () async -> String
    let logger: Logger

    /// `WATCHDOG_USEC` halved, if it is meant for this process (`WATCHDOG_PID` unset or ours).
    static func watchdogInterval(environment: [String: String]) -> Double? {
        guard let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], pid != String(getpid()) { return nil }
        return Double(usec) / 2e6
    }

    func run() async throws {
        while !readiness.isReady {
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .milliseconds(20)) })) != nil else {
                notifier.send("STOPPING=1")
                return
            }
        }
        notifier.send("READY=1", "STATUS=\(await status())")
        logger.info("told systemd the daemon is ready")
        let tick = min(watchdogInterval ?? statusSeconds, statusSeconds)
        var lastStatus = ContinuousClock.now
        var stalled: String?
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            if watchdogInterval != nil {
                let wedged = heartbeats.first { $0.secondsSinceBeat > staleAfterSeconds }
                if let wedged {
                    if stalled != wedged.name {
                        logger.critical("a loop stopped making progress; no more watchdog pings, systemd will restart inboxd",
                                        metadata: ["loop": "\(wedged.name)", "stalled.s": "\(Int(wedged.secondsSinceBeat))"])
                    }
                } else {
                    notifier.send("WATCHDOG=1")
                }
                stalled = wedged?.name
            }
            if ContinuousClock.now - lastStatus >= .seconds(statusSeconds) {
                notifier.send("STATUS=\(await status())")
                lastStatus = ContinuousClock.now
            }
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .milliseconds(Int64(tick * 1000))) })) != nil else { break }
        }
        notifier.send("STOPPING=1", "STATUS=stopping")
    }
}
