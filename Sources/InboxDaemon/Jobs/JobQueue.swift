import Foundation
import Pipeline

/// Claimed jobs waiting for a worker, and the jobs running now (with their controls, so shutdown can stop them).
/// Which queued job goes next is `SchedulingPolicy`'s decision; each job's ticket (owner, priority, cap) is looked
/// up by `tickets` when it is queued, one lookup for a whole burst.
actor JobQueue {
    private var pending: [(job: ClaimedJob, candidate: SchedulingPolicy.Candidate)] = []
    /// The ids in `pending`: `isKnown` is asked once per claim and per recovery sweep entry, and a burst queues
    /// tens of thousands of jobs.
    private var pendingIDs: Set<String> = []
    private var nextSeq: UInt64 = 0
    /// Jobs handed to a worker, by owner (reserved when handed out, released by `finished`).
    private var runningByOwner: [String: Int] = [:]
    private var ownerOf: [String: String] = [:]
    /// Tickets by id; an id missing from the answer ranks as `Ticket()`.
    private let tickets: @Sendable ([String]) async -> [String: SchedulingPolicy.Ticket]
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<ClaimedJob?, Never>)] = []
    private var nextWaiter: UInt64 = 0
    private var active: [String: JobControl] = [:]
    /// Jobs whose last state change could not be written: not resumed before this time.
    private var holds: [String: Date] = [:]
    private var closed = false

    init(tickets: @escaping @Sendable ([String]) async -> [String: SchedulingPolicy.Ticket] = { _ in [:] }) {
        self.tickets = tickets
    }

    /// false when the job is already queued or running here.
    @discardableResult
    func enqueue(_ job: ClaimedJob) async -> Bool {
        await enqueue([job])[0]
    }

    /// Queues a burst of claimed jobs in order, their tickets looked up together; one Bool per job, false when it is
    /// already queued or running here (or twice in `jobs`: the first one counts).
    @discardableResult
    func enqueue(_ jobs: [ClaimedJob]) async -> [Bool] {
        guard !closed else { return jobs.map { _ in false } }
        let wanted = jobs.map(\.videoID).filter { !isKnown($0) }
        var found: [String: SchedulingPolicy.Ticket] = [:]
        if !wanted.isEmpty { found = await tickets(wanted) }
        var queued: [Bool] = []
        queued.reserveCapacity(jobs.count)
        for job in jobs {
            // Checked here, after the lookup: it let other calls in.
            guard !closed, !isKnown(job.videoID) else {
                queued.append(false)
                continue
            }
            nextSeq += 1
            pending.append((job, SchedulingPolicy.Candidate(ticket: found[job.videoID] ?? SchedulingPolicy.Ticket(), seq: nextSeq)))
            pendingIDs.insert(job.videoID)
            queued.append(true)
        }
        dispatch()
        return queued
    }

    /// Hands startable jobs to waiting workers.
    private func dispatch() {
        while !waiters.isEmpty, let job = take() {
            waiters.removeFirst().continuation.resume(returning: job)
        }
    }

    /// Removes the job the policy picks and reserves a running slot for its owner.
    private func take() -> ClaimedJob? {
        guard let i = SchedulingPolicy.pick(pending.lazy.map(\.candidate), running: runningByOwner) else { return nil }
        let (job, candidate) = pending.remove(at: i)
        pendingIDs.remove(job.videoID)
        runningByOwner[candidate.ticket.owner, default: 0] += 1
        ownerOf[job.videoID] = candidate.ticket.owner
        return job
    }

    /// The next job for a worker; nil once the queue is closed and drained, or when the waiting task is cancelled
    /// (an idle worker must never keep a cancelled service group waiting). Waits while every queued job's owner
    /// is at its `max_running_jobs`.
    func next() async -> ClaimedJob? {
        if closed || Task.isCancelled { return nil }
        if let job = take() { return job }
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
    /// The worker is done with `id`: its owner's slot is free, which may let a capped owner's job start.
    func finished(_ id: String) {
        active[id] = nil
        if let owner = ownerOf.removeValue(forKey: id) {
            runningByOwner[owner, default: 1] -= 1
            if runningByOwner[owner] == 0 { runningByOwner[owner] = nil }
        }
        dispatch()
    }

    func isKnown(_ id: String) -> Bool { active[id] != nil || ownerOf[id] != nil || pendingIDs.contains(id) }

    /// Of `ids`, those neither queued, running nor held here: one call for a whole recovery sweep of `processing/`,
    /// which holds every job of a burst.
    func untracked(among ids: [String]) -> [String] { ids.filter { !isKnown($0) && !isHeld($0) } }

    /// Jobs handed out per owner (running, or about to start).
    var runningOwners: [String: Int] { runningByOwner }

    var running: Int { active.count }
    /// Jobs queued or handed to a worker here: a node of a shared store takes more only while this is below its workers.
    var load: Int { pending.count + ownerOf.count }

    /// The ids of `load`: the jobs whose leases this node renews.
    var loadIDs: [String] { pending.map(\.job.videoID) + Array(ownerOf.keys) }

    /// Jobs held back (see `hold`) whose time has not come.
    var heldIDs: [String] {
        let now = Date()
        return holds.filter { $0.value > now }.map(\.key)
    }
    var queued: Int { pending.count }

    /// Stops handing out jobs; queued ones stay in `processing/` for the next start.
    func close() {
        closed = true
        pending.removeAll()
        pendingIDs.removeAll()
        for w in waiters { w.continuation.resume(returning: nil) }
        waiters.removeAll()
    }

    /// Stops one running job (its lease went to another node).
    func cancel(_ id: String, _ cause: CancelCause) { active[id]?.cancel(cause) }

    func cancelAll(_ cause: CancelCause) {
        for control in active.values { control.cancel(cause) }
    }
}
