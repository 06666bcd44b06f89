import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Trims resident memory (`ResidentMemory.trim`): once as soon as the daemon is ready (start-up's pages: the
/// dynamic loader's, library constructors', migrations'), then after each busy spell (a job, an upload, a burst of
/// status requests) once the daemon has gone quiet: no HTTP request in flight, no job running, and nothing of either
/// for `quietSeconds` since the last one ended. Never a periodic trim: an idle daemon trims and then sleeps.
final class MemoryTrimmer: Service, Sendable {
    let quietSeconds: Double
    let readiness: ReadinessFlags
    let io: BlockingIO
    let logger: Logger
    /// True while any job runs.
    let busy: @Sendable () async -> Bool
    private let inFlight = Atomic<Int>(0)
    /// `ContinuousClock` instant of the last activity, as nanoseconds since `epoch`.
    private let lastActivity = Atomic<Int64>(0)
    /// Activity since the last trim.
    private let dirty = Atomic<Bool>(true)
    private let epoch = ContinuousClock.now

    init(quietSeconds: Double, readiness: ReadinessFlags, io: BlockingIO, logger: Logger, busy: @escaping @Sendable () async -> Bool) {
        self.quietSeconds = quietSeconds
        self.readiness = readiness
        self.io = io
        self.logger = logger
        self.busy = busy
    }

    /// A request begins (`ActivityMiddleware`).
    func begin() {
        inFlight.add(1, ordering: .relaxed)
        noteActivity()
    }

    /// A request ends.
    func end() {
        noteActivity()
        inFlight.subtract(1, ordering: .relaxed)
    }

    /// Something ran (a job ended): the next quiet spell ends in a trim.
    func noteActivity() {
        lastActivity.store(nanosSinceEpoch, ordering: .relaxed)
        dirty.store(true, ordering: .relaxed)
    }

    private var nanosSinceEpoch: Int64 {
        let d = ContinuousClock.now - epoch
        return d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }

    func run() async throws {
        while !readiness.isReady {
            guard await sleep(.milliseconds(20)) else { return }
        }
        dirty.store(false, ordering: .relaxed)
        await trim()
        // Checks are cheap but wake the process: a few per quiet spell, at most one every 5 s.
        let tick = Duration.milliseconds(Int64(min(max(quietSeconds / 2, 0.05), 5) * 1000))
        while await sleep(tick) {
            guard dirty.load(ordering: .relaxed), inFlight.load(ordering: .relaxed) == 0,
                  Double(nanosSinceEpoch - lastActivity.load(ordering: .relaxed)) >= quietSeconds * 1e9,
                  !(await busy()) else { continue }
            dirty.store(false, ordering: .relaxed)
            await trim()
        }
    }

    /// False once a graceful shutdown began.
    private func sleep(_ duration: Duration) async -> Bool {
        (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: duration) })) != nil
    }

    private func trim() async {
        do {
            let t = try await io.run { try ResidentMemory.trim() }
            logger.info("released idle memory", metadata: [
                "memory.rss_kib_before": "\(t.residentKiBBefore)", "memory.rss_kib_after": "\(t.residentKiBAfter)",
                "memory.mappings": "\(t.mappings)", "memory.heap_released": "\(t.heapReleased)",
                "memory.trim_cpu_ms": "\(Int((t.cpuSeconds * 1000).rounded()))",
            ])
        } catch {
            logger.warning("cannot release idle memory", metadata: ["error": "\(error)"])
        }
    }
}
