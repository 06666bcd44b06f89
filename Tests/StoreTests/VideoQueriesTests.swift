import Foundation
import GRDB
import Store
import TestSupport
import Testing

/// The statements over `videos` and `events`, on a real db: each state change leaves the row and its audit entry
/// agreeing, and the reports read what admins' SQL would count.
@Suite struct VideoQueriesTests {
    let dir: TempDir
    let pool: DatabasePool

    init() throws {
        dir = try TempDir()
        pool = try StoreDatabase.openWriter(path: dir.path + "/a.db")
    }

    func events(_ id: String) throws -> [EventRow] {
        try pool.read { try EventRow.filter(Column("video_id") == id).order(Column("id")).fetchAll($0) }
    }

    @Test func anAttemptThatFailsTransientlyWaitsInRetryingThenFailsInThePhaseItReached() throws {
        defer { dir.remove() }
        try pool.write { db in
            try VideoQueries.insert(db, VideoRow(videoID: "a", title: "t", source: .drop), message: "claimed")
            let started = try #require(try VideoQueries.startAttempt(db, "a", now: "2030-01-01T00:00:00Z"))
            #expect(started.attempts == 1 && started.status == .processing && started.phase == .queued)
            try VideoQueries.setPhase(db, "a", .uploading, progress: 0.9)
            try VideoQueries.markRetrying(db, "a", error: "S3 503", reason: .publish, next: "2030-01-01T00:05:00Z")
        }
        #expect(try pool.read { try VideoQueries.retriesNotDue($0, now: "2030-01-01T00:04:59Z") } == ["a"])
        #expect(try pool.read { try VideoQueries.retriesNotDue($0, now: "2030-01-01T00:05:00Z") }.isEmpty)

        try pool.write { db in try VideoQueries.markFailed(db, "a", error: "gave up", reason: .publish) }
        let row = try #require(try pool.read { try VideoQueries.row($0, "a") })
        #expect(row.status == .failed && row.phase == .retrying && row.failureReason == .publish && row.nextAttemptAt == nil)
        #expect(try events("a").map(\.status) == [.processing, .processing, .processing, .processing, .failed])
        #expect(try events("a").map(\.phase) == [.queued, .queued, .uploading, .retrying, .retrying])
        #expect(try events("a").map(\.message) == ["claimed", "attempt 1 started", nil, "retry at 2030-01-01T00:05:00Z: S3 503", "gave up"])
    }

    @Test func aRetryRequestTakesOnlyFailedJobsBackToTheQueue() throws {
        defer { dir.remove() }
        try pool.write { db in
            for id in ["a", "b", "c"] { try VideoQueries.insert(db, VideoRow(videoID: id, title: id, source: .drop), message: nil) }
            try VideoQueries.markFailed(db, "a", error: "bad", reason: .convert)
            try VideoQueries.markReady(db, "b", videoURL: "https://cdn/b/master.m3u8", thumbnailURL: "https://cdn/b/t.jpg")
        }
        #expect(try pool.read { try VideoQueries.failedIDs($0, among: nil) } == ["a"])
        #expect(try pool.read { try VideoQueries.failedIDs($0, among: ["c", "b", "a", "zz"]) } == ["a"])
        try pool.write { db in try VideoQueries.requestRetry(db, "a") }
        let row = try #require(try pool.read { try VideoQueries.row($0, "a") })
        #expect(row.status == .processing && row.phase == .queued && row.error == nil && row.attempts == 0)
        #expect(try pool.read { try VideoQueries.processingRows($0) }.map(\.id) == ["a", "c"])
        #expect(try pool.read { try VideoQueries.processingRows($0) }.map(\.retryRequested) == [true, false])
    }

    @Test func theMetricsTotalsCountWhatAdminsSQLWouldAndSkipHandEditedWords() throws {
        defer { dir.remove() }
        try pool.write { db in
            for id in ["a", "b", "c", "d", "e"] { try VideoQueries.insert(db, VideoRow(videoID: id, title: id, source: .drop), message: nil) }
            try VideoQueries.markFailed(db, "a", error: "x", reason: .convert)
            try VideoQueries.markFailed(db, "b", error: "y", reason: .convert)
            try VideoQueries.setMediaInfo(db, "c", durationS: 1, width: 2, height: 2, videoCodec: "h264", audioCodec: nil, sizeBytes: 1000)
            try VideoQueries.markReady(db, "c", videoURL: "u", thumbnailURL: "t")
            // Failed by an older version (no reason) and by hand with a word inboxd does not know.
            try db.execute(sql: "UPDATE videos SET status = 'failed', failure_reason = NULL WHERE video_id = 'd'")
            try db.execute(sql: "UPDATE videos SET status = 'failed', failure_reason = 'gremlins', phase = 'sleeping' WHERE video_id = 'e'")
        }
        let t = try pool.read { try VideoQueries.totals($0) }
        #expect(t.byStatus == [.failed: 4, .ready: 1])
        #expect(t.failedByReason == [.convert: 2, .other: 1])
        #expect(t.failedByPhase == [.queued: 3])
        #expect(t.queued == 0 && t.readyBytes == 1000)
    }

    @Test func pagesFollowTheCreatedOrderAndTheStatusFilter() throws {
        defer { dir.remove() }
        try pool.write { db in
            for (i, id) in ["c", "a", "b"].enumerated() {
                try VideoQueries.insert(db, VideoRow(videoID: id, title: id, source: .drop, createdAt: "2030-01-01T00:00:0\(i)Z"), message: nil)
            }
            try VideoQueries.markFailed(db, "a", error: "x", reason: .io)
        }
        func ids(_ rows: [Row]) -> [String] { rows.map { $0["video_id"] } }
        #expect(try pool.read { ids(try VideoQueries.page($0, status: nil, user: nil, after: nil, limit: 10)) } == ["c", "a", "b"])
        #expect(try pool.read { ids(try VideoQueries.page($0, status: .processing, user: nil, after: nil, limit: 10)) } == ["c", "b"])
        #expect(try pool.read {
            ids(try VideoQueries.page($0, status: nil, user: nil, after: (createdAt: "2030-01-01T00:00:00Z", videoID: "c"), limit: 1))
        } == ["a"])
        #expect(try pool.read { try VideoQueries.events($0, videoID: "zz") } == nil)
        #expect(try pool.read { try VideoQueries.events($0, videoID: "a") }?.count == 2)
    }
}
