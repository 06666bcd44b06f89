import Foundation
import GRDB
@testable import InboxDaemon
import Pipeline
import StatusAPI
import Store
import Testing
import TestSupport

/// The job states over `videos` and `events` on both stores (`StoreKind`): each state change leaves the row and its
/// audit entry agreeing, the reports read what admins' SQL would count, and the admins' SQL itself runs as SQL on
/// the store (`sqlite3` on the file, `psql` on PostgreSQL).
@Suite(.serialized) struct VideoQueriesTests {
    static func claim(_ rig: StoreRig, _ ids: [String], createdAt: (Int) -> String? = { _ in nil }) async throws {
        for (i, id) in ids.enumerated() {
            var row = VideoRow(videoID: id, title: id, source: .drop)
            if let at = createdAt(i) { row.createdAt = at; row.updatedAt = at }
            try await rig.store.recordClaim(row)
        }
    }

    static func column(_ j: RowJSON, _ name: String) -> String? { j[name].flatMap { String.fromDatabaseValue($0) } }

    @Test(arguments: StoreKind.allCases)
    func anAttemptThatFailsTransientlyWaitsInRetryingThenFailsInThePhaseItReached(kind: StoreKind) async throws {
        try await StoreRig.with(kind) { rig in
            try await Self.claim(rig, ["a"])
            try await rig.lease("a")
            guard case .started(let started) = try await rig.store.startAttempt("a", maxAttempts: 3) else {
                Issue.record("attempt did not start")
                return
            }
            #expect(started.attempts == 1 && started.status == .processing && started.phase == .queued)
            try await rig.store.setPhase("a", .uploading, progress: 0.9)
            try await rig.store.markRetrying("a", error: "S3 503", reason: .publish, at: Timestamp.date("2030-01-01T00:05:00Z")!)
            #expect(try await rig.store.retriesNotDue(now: Timestamp.date("2030-01-01T00:04:59Z")!) == ["a"])
            #expect(try await rig.store.retriesNotDue(now: Timestamp.date("2030-01-01T00:05:00Z")!).isEmpty)

            try await rig.store.markFailed("a", error: "gave up", reason: .publish)
            let row = try #require(try await rig.store.row("a"))
            #expect(row.status == .failed && row.phase == .retrying && row.failureReason == .publish && row.nextAttemptAt == nil)
            let events = try #require(try await rig.reader.events("a"))
            #expect(events.map { Self.column($0, "status") } == ["processing", "processing", "processing", "processing", "failed"])
            #expect(events.map { Self.column($0, "phase") } == ["queued", "queued", "uploading", "retrying", "retrying"])
            #expect(events.map { Self.column($0, "message") }
                == ["claimed", "attempt 1 started", nil, "retry at 2030-01-01T00:05:00Z: S3 503", "gave up"])
        }
    }

    /// `inboxd retry` takes only failed jobs back, and so does the admins' recovery SQL; either way the recovery
    /// pass sees the row as a requested retry (a processing row that has finished before).
    @Test(arguments: StoreKind.allCases) func aRetryRequestTakesOnlyFailedJobsBackToTheQueue(kind: StoreKind) async throws {
        try await StoreRig.with(kind) { rig in
            try await Self.claim(rig, ["a", "b", "c", "d"], createdAt: { "2030-01-01T00:00:0\($0)Z" })
            try await rig.store.markFailed("a", error: "bad", reason: .convert)
            try await rig.lease("b")
            try await rig.store.markReady("b", PublishedVideo(videoURL: "https://cdn/b/master.m3u8", thumbnailURL: "https://cdn/b/t.jpg"))
            try await rig.store.markFailed("d", error: "worse", reason: .io)
            #expect(try await rig.store.retry(ids: ["c", "b", "a", "zz"]) == ["a"])
            let row = try #require(try await rig.store.row("a"))
            #expect(row.status == .processing && row.phase == .queued && row.error == nil && row.attempts == 0)
            #expect(try await rig.reader.events("a")?.last.map { Self.column($0, "message") } == "retry requested")
            #expect(try await rig.store.processingRows().map(\.id) == ["a", "c"])
            #expect(try await rig.store.processingRows().map(\.retryRequested) == [true, false])

            // The admins' recovery SQL (README, Operations): the same rows back, seen as requested retries.
            #expect(try rig.sql("UPDATE videos SET status = 'processing' WHERE status = 'failed'").isEmpty)
            #expect(try await rig.store.processingRows().map(\.id) == ["a", "c", "d"])
            #expect(try await rig.store.processingRows().map(\.retryRequested) == [true, false, true])
            #expect(try await rig.store.retry(ids: nil).isEmpty, "nothing failed any more")
        }
    }

    @Test(arguments: StoreKind.allCases) func theMetricsTotalsCountWhatAdminsSQLWouldAndSkipHandEditedWords(kind: StoreKind) async throws {
        try await StoreRig.with(kind) { rig in
            try await Self.claim(rig, ["a", "b", "c", "d", "e"])
            try await rig.store.markFailed("a", error: "x", reason: .convert)
            try await rig.store.markFailed("b", error: "y", reason: .convert)
            try await rig.lease("c")
            try await rig.store.setMediaInfo("c", MediaInfo(durationSeconds: 1, width: 2, height: 2, videoCodec: "h264", audioCodec: nil,
                                                            sizeBytes: 1000, formatName: "mov"))
            try await rig.store.markReady("c", PublishedVideo(videoURL: "u", thumbnailURL: "t"))
            // Failed by an older version (no reason) and by hand with a word inboxd does not know.
            try rig.sql("UPDATE videos SET status = 'failed', failure_reason = NULL WHERE video_id = 'd'")
            try rig.sql("UPDATE videos SET status = 'failed', failure_reason = 'gremlins', phase = 'sleeping' WHERE video_id = 'e'")
            let t = try await rig.totals()
            #expect(t.byStatus == [.failed: 4, .ready: 1])
            #expect(t.failedByReason == [.convert: 2, .other: 1])
            #expect(t.failedByPhase == [.queued: 3])
            #expect(t.queued == 0 && t.readyBytes == 1000)
            // What the admins' SQL counts.
            #expect(try rig.sql("SELECT count(*) FROM videos WHERE status = 'failed'") == "4")
            #expect(try rig.sql("SELECT sum(size_bytes) FROM videos WHERE status = 'ready'") == "1000")
        }
    }

    @Test(arguments: StoreKind.allCases) func pagesFollowTheCreatedOrderAndTheStatusFilter(kind: StoreKind) async throws {
        try await StoreRig.with(kind) { rig in
            try await Self.claim(rig, ["c", "a", "b"], createdAt: { "2030-01-01T00:00:0\($0)Z" })
            try await rig.store.markFailed("a", error: "x", reason: .io)
            func ids(_ rows: [RowJSON]) -> [String] { rows.compactMap { Self.column($0, "video_id") } }
            #expect(ids(try await rig.listing.page(status: nil, user: nil, after: nil, limit: 10)) == ["c", "a", "b"])
            #expect(ids(try await rig.listing.page(status: .processing, user: nil, after: nil, limit: 10)) == ["c", "b"])
            #expect(ids(try await rig.listing.page(status: nil, user: nil, after: (createdAt: "2030-01-01T00:00:00Z", videoID: "c"), limit: 1))
                == ["a"])
            #expect(try await rig.reader.events("zz") == nil)
            #expect(try await rig.reader.events("a")?.count == 2)
        }
    }
}
