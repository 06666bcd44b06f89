import Foundation
import Logging
import Synchronization

/// Lets running conversions step aside while the HTTP API is flooded (`convert_yield_rps`). Conversion threads
/// already run under `SCHED_IDLE` (`convert_policy`), so they get only CPU time nothing else wants; but between two
/// requests the event loops and their clients leave the cores idle for moments, libx264 takes them, and every
/// preemption costs the next request its caches: with one transcode running, `wrk -c64` on `…/status` got 24k
/// req/s with p99 7.7–9.5 ms against 30k and 4.4 ms with no job (2 cores). While the API serves more than
/// `requestsPerSecond`, each conversion's reading thread pauses between packets (10 ms at a time, cancellation still
/// checked), its encoders drain what they hold and go quiet, and the API gets the machine: p99 3.9–5.6 ms.
///
/// Each conversion judges the rate over windows of 100 ms from a process-wide count of requests (`noteRequest`, one
/// atomic add per request). A pause lasts as long as the flood: a client that
/// keeps the API above the threshold holds conversions back, which is the order of priority this asks for
/// (`convert_yield_rps = 0` turns it off). The log says when conversions pause and when they resume.
public final class APIPressure: Sendable {
    public let requestsPerSecond: Int
    private let requests = Atomic<Int>(0)
    private let paused = Atomic<Int>(0)
    private let logger: Logger

    public init(requestsPerSecond: Int, logger: Logger) {
        precondition(requestsPerSecond > 0, "a threshold of 0 is no yielding: pass no APIPressure")
        self.requestsPerSecond = requestsPerSecond
        self.logger = logger
    }

    /// An HTTP request arrived.
    public func noteRequest() { requests.add(1, ordering: .relaxed) }

    /// One conversion's view: call `yieldWhileFlooded` between packets on its reading thread.
    struct Gate {
        let pressure: APIPressure
        private var windowStart = ContinuousClock.now
        private var windowCount: Int
        /// The rate is judged over windows of at least 100 ms (a shorter one would call a single request a flood);
        /// a paused conversion looks again every 10 ms, so it resumes within ~100 ms of the flood's end.
        static let window = Duration.milliseconds(100)
        static let step = Duration.milliseconds(10)

        init(_ pressure: APIPressure) {
            self.pressure = pressure
            windowCount = pressure.requests.load(ordering: .relaxed)
        }

        /// Returns at once unless the API served more than the threshold over the last window; then sleeps in
        /// steps of 10 ms until a window shows it no longer does. Throws if the job is cancelled meanwhile.
        mutating func yieldWhileFlooded(_ control: JobControl) throws(PipelineError) {
            guard var rate = nextRate(), rate > Double(pressure.requestsPerSecond) else { return }
            let pausedAt = ContinuousClock.now
            pressure.pausing(rate: rate)
            defer { pressure.resumed(after: ContinuousClock.now - pausedAt) }
            while rate > Double(pressure.requestsPerSecond) {
                try control.check()
                usleep(UInt32(Self.step.components.attoseconds / 1_000_000_000_000))
                rate = nextRate() ?? rate
            }
        }

        /// Requests per second over the window that just closed; nil while the current one is shorter than `window`.
        private mutating func nextRate() -> Double? {
            let now = ContinuousClock.now
            let elapsed = now - windowStart
            guard elapsed >= Self.window else { return nil }
            let count = pressure.requests.load(ordering: .relaxed)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            defer {
                windowStart = now
                windowCount = count
            }
            return Double(count - windowCount) / seconds
        }
    }

    fileprivate func pausing(rate: Double) {
        if paused.add(1, ordering: .relaxed).newValue == 1 {
            logger.info("conversions paused: the HTTP API is flooded", metadata: [
                "http.requests_per_second": "\(Int(rate))", "convert_yield_rps": "\(requestsPerSecond)",
            ])
        }
    }

    fileprivate func resumed(after pause: Duration) {
        if paused.subtract(1, ordering: .relaxed).newValue == 0 {
            logger.info("conversions resumed", metadata: ["paused_s": "\(String(format: "%.1f", Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18))"])
        }
    }
}
