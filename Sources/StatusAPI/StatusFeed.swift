import Foundation
import Store

/// The change feed behind the live status routes: SSE (`/stream`) and WebSocket (`/ws`, `/api/ws`) send what these
/// yield, so every channel shows the same messages. They poll the read-only db every `pollInterval` (cheap: one PK
/// lookup, or one indexed range of `events`); `next()` returns after each poll, an empty list when nothing changed
/// (so a stream can send heartbeats), nil when the feed has ended.
public protocol StatusFeedSource: Sendable {
    /// The changes found by one poll (empty: none), or nil once the feed has ended.
    mutating func next() async throws -> [StatusResponse]?
}

/// What a one-job feed reads: the job's row, and a wait for the store to change. The SQLite store polls every
/// `StatusFeed.pollInterval`; a shared store (PostgreSQL) is woken by a NOTIFY from whichever node wrote, with a slow
/// poll behind it.
public protocol StatusFeedStore: Sendable {
    func video(_ id: String) async throws -> VideoRow?
    /// A mark of the store's changes so far; `waitForChange(since:)` returns once there is a newer one (or after a
    /// while: a fallback poll).
    func changeMark() -> UInt64
    func waitForChange(since mark: UInt64) async throws
}

public enum StatusFeed {
    public static let pollInterval: Duration = .milliseconds(250)

    /// One job: its status answer now, then each time its status, phase, progress, error or a URL changes, until the
    /// job is ready or failed (or its row is deleted).
    public struct Video: StatusFeedSource {
        private let id: String
        private let store: any StatusFeedStore
        private var row: VideoRow
        private var lastSent: Key?
        private var polled = false
        private var mark: UInt64

        public init(id: String, first: VideoRow, store: any StatusFeedStore) {
            self.id = id
            self.store = store
            self.row = first
            self.mark = store.changeMark()
        }

        public mutating func next() async throws -> [StatusResponse]? {
            if polled {
                guard row.status == .processing else { return nil }
                try await store.waitForChange(since: mark)
                mark = store.changeMark()  // before the read: a change after it wakes the next wait at once
                guard let next = try await store.video(id) else { return nil }
                row = next
            }
            polled = true
            let key = Key(row)
            guard key != lastSent else { return [] }
            lastSent = key
            return [StatusResponse(row)]
        }
    }

    /// Every job `visible` lets through, from now on: the status answer of each job with a new audit entry (a state
    /// or phase change; progress alone is not one). Never ends.
    public struct Changes: StatusFeedSource {
        private let store: StatusStore
        private let visible: @Sendable (VideoRow) -> Bool
        private var after: Int64?

        public init(store: StatusStore, visible: @escaping @Sendable (VideoRow) -> Bool) {
            self.store = store
            self.visible = visible
        }

        public mutating func next() async throws -> [StatusResponse]? {
            guard let after else {
                self.after = try await store.db.read { db in try VideoQueries.lastEventID(db) }
                return []
            }
            try await Task.sleep(for: StatusFeed.pollInterval)
            let (rows, last) = try await store.db.read { db in try VideoQueries.changedSince(db, after: after, limit: 1000) }
            self.after = last
            return rows.filter(visible).map { StatusResponse($0) }
        }
    }

    /// What counts as a change worth a message.
    private struct Key: Equatable, Sendable {
        var status: JobStatus, phase: JobPhase, progress: Double, error: String?, videoURL: String, previewURL: String?
        init(_ r: VideoRow) {
            status = r.status; phase = r.phase; progress = r.progress; error = r.error; videoURL = r.videoURL
            previewURL = r.previewURL
        }
    }
}
