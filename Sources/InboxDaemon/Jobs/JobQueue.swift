import Foundation
import Pipeline

/// Claimed jobs waiting for a worker, and the jobs running now (with their controls, so shutdown can stop them).
actor JobQueue {
    private var pending: [ClaimedJob] = []
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<ClaimedJob?, Never>)] = []
    private var nextWaiter: UInt64 = 0
    private var active: [String: JobControl] = [:]
    /// Jobs whose last state change could not be written: not resumed before this time.
    private var holds: [String: Date] = [:]
    private var closed = false

    /// false when the job is already queued or running here.
    @discardableResult
    func enqueue(_ job: ClaimedJob) -> Bool {
        guard !closed, active[job.videoID] == nil, !pending.contains(where: { $0.videoID == job.videoID }) else { return false }
        if waiters.isEmpty {
            pending.append(job)
        } else {
            waiters.removeFirst().continuation.resume(returning: job)
        }
        return true
    }

    /// The next job for a worker; nil once the queue is closed and drained, or when the waiting task is cancelled
    /// (an idle worker must never keep a cancelled service group waiting).
    func next() async -> ClaimedJob? {
        if !pending.isEmpty { return pending.removeFirst() }
        if closed || Task.isCancelled { return nil }
        nextWaiter += 1
        let ticket = nextWaiter
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                } else {
                    waiters.append((ticket, continuation))
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(ticket) }
        }
    }

    private func cancelWaiter(_ ticket: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == ticket }) else { return }
        waiters.remove(at: index).continuation.resume(returning: nil)
    }

    func hold(_ id: String, seconds: Double) { holds[id] = Date().addingTimeInterval(seconds) }

    /// Whether `id` is held back (see `hold`); a hold that has passed is dropped.
    func isHeld(_ id: String) -> Bool {
        guard let until = holds[id] else { return false }
        if until > Date() { return true }
        holds[id] = nil
        return false
    }

    func started(_ id: String, control: JobControl) { active[id] = control }
    func finished(_ id: String) { active[id] = nil }

    func isKnown(_ id: String) -> Bool { active[id] != nil || pending.contains { $0.videoID == id } }

    var running: Int { active.count }
    var queued: Int { pending.count }

    /// Stops handing out jobs; queued ones stay in `processing/` for the next start.
    func close() {
        closed = true
        pending.removeAll()
        for w in waiters { w.continuation.resume(returning: nil) }
        waiters.removeAll()
    }

    func cancelAll(_ cause: CancelCause) {
        for control in active.values { control.cancel(cause) }
    }
}
