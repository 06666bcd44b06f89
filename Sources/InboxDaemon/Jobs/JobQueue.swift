import Pipeline

/// Claimed jobs waiting for a worker, and the jobs running now (with their controls, so shutdown can stop them).
actor JobQueue {
    private var pending: [ClaimedJob] = []
    private var waiters: [CheckedContinuation<ClaimedJob?, Never>] = []
    private var active: [String: JobControl] = [:]
    private var closed = false

    /// false when the job is already queued or running here.
    @discardableResult
    func enqueue(_ job: ClaimedJob) -> Bool {
        guard !closed, active[job.videoID] == nil, !pending.contains(where: { $0.videoID == job.videoID }) else { return false }
        if waiters.isEmpty {
            pending.append(job)
        } else {
            waiters.removeFirst().resume(returning: job)
        }
        return true
    }

    /// The next job for a worker; nil once the queue is closed and drained.
    func next() async -> ClaimedJob? {
        if !pending.isEmpty { return pending.removeFirst() }
        if closed { return nil }
        return await withCheckedContinuation { waiters.append($0) }
    }

    func started(_ id: String, control: JobControl) { active[id] = control }
    func finished(_ id: String) { active[id] = nil }

    func isKnown(_ id: String) -> Bool { active[id] != nil || pending.contains { $0.videoID == id } }

    var running: Int { active.count }

    /// Stops handing out jobs; queued ones stay in `processing/` for the next start.
    func close() {
        closed = true
        pending.removeAll()
        for w in waiters { w.resume(returning: nil) }
        waiters.removeAll()
    }

    func cancelAll(reason: String) {
        for control in active.values { control.cancel(reason: reason) }
    }
}
