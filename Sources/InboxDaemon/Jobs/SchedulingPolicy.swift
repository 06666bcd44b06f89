/// Which queued job a free worker takes (README, "Queue management"). A pure function, so the policy is tested as a
/// table without a daemon:
///
/// 1. A job whose owner already runs `maxRunning` jobs is skipped (fair share's hard cap).
/// 2. Among the rest, the highest `priority` wins.
/// 3. At equal priority, the owner with the fewest running jobs wins: owners take turns, so one user's bulk drop of
///    500 files never starves another's single job — it starts as soon as a worker is free.
/// 4. Then the oldest (`createdAt`, then queue order).
enum SchedulingPolicy {
    /// Who a job belongs to and how it ranks; read from its row when it is queued.
    struct Ticket: Sendable, Equatable {
        /// username, else user_id, else "" (drops without an owner form one group of their own).
        var owner: String = ""
        var priority: Int = 0
        /// ISO 8601 UTC; sorts as text.
        var createdAt: String = ""
        /// Jobs of this owner that may run at once; nil = no cap.
        var maxRunning: Int?
    }

    struct Candidate: Sendable, Equatable {
        var ticket: Ticket
        /// Queue order, for ties.
        var seq: UInt64
    }

    /// Index into `queued` of the job to start now, or nil when every queued job's owner is at its cap.
    /// Generic so the queue can pass a lazy view of its entries instead of copying them on every pick.
    static func pick<Queued: RandomAccessCollection<Candidate>>(_ queued: Queued, running: [String: Int]) -> Int? where Queued.Index == Int {
        var best: (index: Int, candidate: Candidate, busy: Int)?
        for (i, c) in zip(queued.indices, queued) {
            let busy = running[c.ticket.owner, default: 0]
            if let cap = c.ticket.maxRunning, busy >= cap { continue }
            guard let b = best else {
                best = (i, c, busy)
                continue
            }
            if ranksBefore(c, busy, b.candidate, b.busy) { best = (i, c, busy) }
        }
        return best?.index
    }

    private static func ranksBefore(_ a: Candidate, _ aBusy: Int, _ b: Candidate, _ bBusy: Int) -> Bool {
        if a.ticket.priority != b.ticket.priority { return a.ticket.priority > b.ticket.priority }
        if aBusy != bBusy { return aBusy < bBusy }
        if a.ticket.createdAt != b.ticket.createdAt { return a.ticket.createdAt < b.ticket.createdAt }
        return a.seq < b.seq
    }
}
