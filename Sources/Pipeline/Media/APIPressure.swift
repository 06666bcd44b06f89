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
/// The rate is measured by each paused or running conversion over its last ~10 ms of packets from a process-wide
/// count of requests (`noteRequest`, one atomic add per request). A pause lasts as long as the flood: a client that
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

    /// How many conversions are paused right now.
    public var pausedConversions: Int { paused.load(ordering: .relaxed) }

    /// One conversion's view: call `yieldWhileFlooded` between packets on its reading thread.
    struct Gate {
        let pressure: APIPressure
        private var lastCheck = ContinuousClock.now
        private var lastCount: Int
        static let interval = Duration.milliseconds(10)

        init(_ pressure: APIPressure) {
            self.pressure = pressure
            lastCount = pressure.requests.load(ordering: .relaxed)
        }

        /// Returns at once unless the API served more than the threshold over the last interval; then sleeps in
        /// steps of `interval` until it no longer does. Throws if the job is cancelled meanwhile.
        mutating func yieldWhileFlooded(_ control: JobControl) throws(PipelineError) {
            var now = ContinuousClock.now
            guard now - lastCheck >= Self.interval else { return }
            var pausedAt: ContinuousClock.Instant?
            defer {
                if let pausedAt { pressure.resumed(after: ContinuousClock.now - pausedAt) }
            }
            while true {
                let count = pressure.requests.load(ordering: .relaxed)
                let elapsed = now - lastCheck
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let rate = Double(count - lastCount) / max(seconds, 1e-6)
                lastCount = count
                lastCheck = now
                guard rate > Double(pressure.requestsPerSecond) else { return }
                if pausedAt == nil {
                    pausedAt = now
                    pressure.pausing(rate: rate)
                }
                try control.check()
                usleep(UInt32(Self.interval.components.attoseconds / 1_000_000_000_000))
                now = ContinuousClock.now
            }
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
