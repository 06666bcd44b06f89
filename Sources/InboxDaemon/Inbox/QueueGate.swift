import Logging
import Store
import Synchronization

/// Holds back drops in `incoming/<user>/` while that user has `max_queued_jobs` jobs in `processing`: they wait
/// where they are (not failed, not claimed) until the user's queue drains. A user found full is remembered, so the
/// watcher neither reads their sidecars nor asks the db again on every tick; `reopen` (a job ended, or recovery's
/// periodic sweep) makes the next claim look again.
final class QueueGate: Sendable {
    private let store: any JobStoring
    private let defaults: UserLimits
    private let logger: Logger
    private let full = Mutex<Set<String>>([])
    /// Users whose full queue was logged at notice level; a later look that finds it still full stays quiet.
    private let announced = Mutex<Set<String>>([])

    init(store: any JobStoring, defaults: UserLimits, logger: Logger) {
        self.store = store
        self.defaults = defaults
        self.logger = logger
    }

    /// Users whose drops wait now.
    var fullUsers: Set<String> { full.withLock { $0 } }

    /// Whether a drop of `user` may be claimed now, `pending` more of theirs being claimed with it. A db that cannot
    /// answer lets the claim go ahead: the cap must never wedge the inbox.
    func admits(_ user: String, alsoClaiming pending: Int = 0) async -> Bool {
        if full.withLock({ $0.contains(user) }) { return false }
        guard let queued = try? await store.processingCount(username: user) else { return true }
        let count = queued + pending
        let row = try? await store.user(user)
        let cap = defaults.effective(for: row ?? nil).maxQueuedJobs
        guard cap > 0, count >= cap else {
            announced.withLock { _ = $0.remove(user) }
            return true
        }
        full.withLock { _ = $0.insert(user) }
        let first = announced.withLock { $0.insert(user).inserted }
        logger.log(level: first ? .notice : .debug, "user's queue is full; their drops wait in incoming/", metadata: [
            "user.name": "\(user)", "queue.jobs": "\(count)", "limits.max_queued_jobs": "\(cap)",
        ])
        return false
    }

    /// Looks again at every full user on their next drop.
    func reopen() {
        let was = full.withLock { f -> Set<String> in
            defer { f.removeAll() }
            return f
        }
        if !was.isEmpty { logger.debug("queue gate reopened", metadata: ["user.names": "\(was.sorted().joined(separator: ","))"]) }
    }
}
