import StatusAPI
import Store

/// `GET /api/ws` on a node of the shared PostgreSQL store: the status answer of each job `visible` lets through
/// whenever it gets a new audit entry on any node (as `StatusFeed.Changes` on SQLite), woken by the store's
/// `NOTIFY inboxd_changes`. Audit ids come from one sequence shared by concurrent transactions of several nodes, which
/// may commit out of id order, so each read looks back `lookback` ids below the highest seen and skips the entries
/// already seen: an entry that commits late is still sent once.
struct SharedChanges: StatusFeedSource {
    static let lookback: Int64 = 512
    let store: PGJobStore
    let visible: @Sendable (VideoRow) -> Bool
    private var top: Int64?
    private var seen: Set<Int64> = []
    private var mark: UInt64 = 0

    init(store: PGJobStore, visible: @escaping @Sendable (VideoRow) -> Bool) {
        self.store = store
        self.visible = visible
    }

    mutating func next() async throws -> [StatusResponse]? {
        guard let top else {
            // What happened before the client came is not news: the entries there are now count as seen.
            mark = store.changeMark()
            let last = try await store.lastEventID()
            let before = try await store.eventEntries(after: max(0, last - Self.lookback), limit: 10_000)
            seen = Set(before.map(\.id))
            self.top = max(last, before.last?.id ?? 0)
            return []
        }
        try await store.waitForChange(since: mark)
        mark = store.changeMark()
        let fresh = try await store.eventEntries(after: max(0, top - Self.lookback), limit: 10_000).filter { !seen.contains($0.id) }
        guard let newest = fresh.map(\.id).max() else { return [] }
        let newTop = max(top, newest)
        seen.formUnion(fresh.map(\.id))
        seen = seen.filter { $0 > newTop - Self.lookback }
        self.top = newTop
        // Each job once, in the order of its latest new entry.
        var ids: [String] = [], named = Set<String>()
        for entry in fresh.reversed() where named.insert(entry.videoID).inserted { ids.append(entry.videoID) }
        var answers: [StatusResponse] = []
        for id in ids.reversed() {
            if let row = try await store.video(id), visible(row) { answers.append(StatusResponse(row)) }
        }
        return answers
    }
}
