import Foundation
import Synchronization

/// Cancellation and liveness for one job's blocking pipeline steps.
///
/// libav and libcurl run on dedicated threads; their interrupt/progress callbacks read `isCancelled` (one atomic
/// load, cheap enough for libav's interrupt callback, which runs thousands of times a second). The daemon's
/// watchdog reads `secondsSinceProgress` to catch stalls and calls `cancel(_:)`.
public final class JobControl: Sendable {
    private let cancelled = Atomic<Bool>(false)
    private let state = Mutex<State>(State())
    /// The last fraction handed to the handler (`progressed`).
    private let delivery = Mutex<Double>(-1)
    private let started = ContinuousClock.now

    private struct State {
        var cause: CancelCause?
        var lastProgress = ContinuousClock.now
        var bestFraction = -1.0
        var bestPosition: Int64 = -1
        var handler: (@Sendable (Double) -> Void)?
    }

    public init() {}

    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Why the job was cancelled (time limit, stall, shutdown), once it was.
    public var cancelCause: CancelCause? { state.withLock { $0.cause } }

    /// The cause in words, for the `cancelled: …` error a step throws.
    public var cancelReason: String? { cancelCause?.description }

    /// Asks every running step to stop; the first cause given wins.
    public func cancel(_ cause: CancelCause) {
        state.withLock { if $0.cause == nil { $0.cause = cause } }
        cancelled.store(true, ordering: .relaxed)
    }

    /// Where the current step's progress (0.0–1.0 within that step) goes; the daemon maps it into the job.
    /// Each step starts its own 0–1 range and its own liveness measure. Reports from several threads (the S3 upload
    /// workers) reach the handler one at a time and in increasing order; it may cancel the job, but must not report
    /// progress or set a handler itself.
    public func setProgressHandler(_ handler: (@Sendable (Double) -> Void)?) {
        delivery.withLock { $0 = -1 }
        state.withLock {
            $0.handler = handler
            $0.lastProgress = .now
            $0.bestFraction = -1
            $0.bestPosition = -1
        }
    }

    /// Called by a step with its progress. Only a fraction larger than any before counts as progress for the
    /// stall watchdog, so a callback that keeps reporting the same value (curl's, while a server stalls) does not
    /// hide a stall.
    public func progressed(_ fraction: Double) {
        let f = min(max(fraction, 0), 1)
        let handler = state.withLock { s -> (@Sendable (Double) -> Void)? in
            guard f > s.bestFraction else { return nil }
            s.bestFraction = f
            s.lastProgress = .now
            return s.handler
        }
        guard let handler else { return }
        // Handed over one at a time, in increasing order: two upload workers that computed 0.08 and 0.16 must not
        // deliver them as 0.16, 0.08. A lock of its own, so a handler may cancel the job (the state's lock is free).
        delivery.withLock { delivered in
            guard f > delivered else { return }
            delivered = f
            handler(f)
        }
    }

    /// Liveness without a known total (bytes of a download of unknown size): counts only when `position` grew.
    public func heartbeat(position: Int64) {
        state.withLock {
            guard position > $0.bestPosition else { return }
            $0.bestPosition = position
            $0.lastProgress = .now
        }
    }

    public var secondsSinceProgress: Double {
        let d = state.withLock { ContinuousClock.now - $0.lastProgress }
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    public var secondsSinceStart: Double {
        let d = ContinuousClock.now - started
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Throws `PipelineError.cancelled` if the job was cancelled.
    public func check() throws(PipelineError) {
        if isCancelled { throw .cancelled(reason: cancelReason ?? "cancelled") }
    }
}
