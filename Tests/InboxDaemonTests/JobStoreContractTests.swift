import Foundation
import GRDB
@testable import InboxDaemon
import Logging
import Pipeline
import StatusAPI
import Store
import Testing
import TestSupport

/// The job store contract (`JobStoring`) run against both implementations: the SQLite file and PostgreSQL (a real
/// server from `PostgresServer`). On PostgreSQL a node writes a running job's state only under its lease, so each
/// test takes the job first (`take`), as the node's puller does.
@Suite(.serialized) struct JobStoreContractTests {
    typealias Kind = StoreKind
    static let logger = StoreRig.logger

    static func withRig(_ kind: Kind, node: String = "node-a", _ body: @Sendable (StoreRig) async throws -> Void) async throws {
        try await StoreRig.with(kind, node: node, body)
    }

    static func withStore(_ kind: Kind, node: String = "node-a",
                          _ body: @Sendable (any JobStoring, _ lease: @Sendable (String) async throws -> Void) async throws -> Void) async throws {
        try await withRig(kind, node: node) { rig in try await body(rig.store, rig.lease) }
    }

    /// The status side reads the same answers from either store: the audit trail entry by entry, the `/status`
    /// answer, the whole row under the same column names, and the `/metrics` totals.
    @Test(arguments: Kind.allCases) func theStatusSideReadsTheSameFromEitherStore(kind: Kind) async throws {
        try await Self.withRig(kind) { rig in
            let a = Self.row(priority: 3), b = Self.row(priority: 2), c = Self.row(priority: 1)  // the order jobs are taken in
            for r in [a, b, c] { try await rig.store.recordClaim(r) }
            try await rig.lease(a.videoID)
            _ = try await rig.store.startAttempt(a.videoID, maxAttempts: 3)
            try await rig.store.setPhase(a.videoID, .uploading, progress: 0.9)
            try await rig.store.markRetrying(a.videoID, error: "S3 503", reason: .publish, at: Date().addingTimeInterval(600))
            try await rig.store.markFailed(a.videoID, error: "gave up", reason: .publish)
            try await rig.lease(b.videoID)
            _ = try await rig.store.startAttempt(b.videoID, maxAttempts: 3)
            try await rig.store.setMediaInfo(b.videoID, MediaInfo(durationSeconds: 2, width: 64, height: 48, videoCodec: "h264",
                                                                  audioCodec: nil, sizeBytes: 500, formatName: "mov"))
            try await rig.store.markReady(b.videoID, PublishedVideo(videoURL: "https://cdn/b/master.m3u8", thumbnailURL: nil))

            let events = try #require(try await rig.reader.events(a.videoID))
            func column(_ j: RowJSON, _ name: String) -> String? { j[name].flatMap { String.fromDatabaseValue($0) } }
            #expect(events.map { column($0, "status") } == ["processing", "processing", "processing", "processing", "failed"])
            #expect(events.map { column($0, "phase") } == ["queued", "queued", "uploading", "retrying", "retrying"])
            #expect(events.map { column($0, "message") }.first == "claimed")
            #expect(try await rig.reader.events("missing") == nil)
            let status = try #require(try await rig.reader.status(a.videoID))
            #expect(status.status == .failed && status.phase == .retrying && status.failureReason == .publish)
            let whole = try #require(try await rig.reader.videoJSON(b.videoID))
            let names = Set(whole.columns.map(\.name))
            #expect(names.isSuperset(of: ["video_id", "status", "phase", "locked_by", "lease_until", "priority", "speed_factor"]))
            #expect(whole["size_bytes"] == 500.databaseValue && whole["status"] == "ready".databaseValue)
            let totals = try await rig.totals()
            #expect(totals.byStatus == [.processing: 1, .ready: 1, .failed: 1])
            #expect(totals.failedByReason == [.publish: 1] && totals.failedByPhase == [.retrying: 1])
            #expect(totals.queued == 1 && totals.readyBytes == 500)
            try await rig.reader.ping()
        }
    }

    static func row(_ id: String = UUID().uuidString.lowercased(), user: String? = nil, priority: Int = 0) -> VideoRow {
        var r = VideoRow(videoID: id, title: "clip \(id.prefix(4))", username: user, source: .drop, sidecar: "{}")
        r.priority = priority
        return r
    }

    @Test(arguments: Kind.allCases) func aJobGoesFromClaimToReadyWithItsAuditTrail(kind: Kind) async throws {
        try await Self.withStore(kind) { store, lease in
            let r = Self.row()
            try await store.recordClaim(r)
            try await lease(r.videoID)
            guard case .started(let started) = try await store.startAttempt(r.videoID, maxAttempts: 3) else {
                Issue.record("attempt did not start")
                return
            }
            #expect(started.attempts == 1 && started.status == .processing && started.phase == .queued)
            try await store.setPhase(r.videoID, .converting, progress: 0.1)
            try await store.setProgress(r.videoID, 0.5)
            try await store.setMediaInfo(r.videoID, MediaInfo(durationSeconds: 1.5, width: 320, height: 240, videoCodec: "h264",
                                                              audioCodec: "aac", sizeBytes: 1234, formatName: "mov"))
            var a = JobAnalytics()
            a.cpuS = 0.25
            try await store.recordAnalytics(r.videoID, a)
            #expect(try await store.processingJobs().map(\.videoID) == [r.videoID])
            let mid = try #require(try await store.row(r.videoID))
            #expect(mid.phase == .converting && mid.progress == 0.5 && mid.width == 320 && mid.sizeBytes == 1234)
            try await store.markReady(r.videoID, PublishedVideo(videoURL: "http://x/v.m3u8", thumbnailURL: "http://x/t.jpg"))
            let done = try #require(try await store.row(r.videoID))
            #expect(done.status == .ready && done.phase == .done && done.videoURL == "http://x/v.m3u8")
            #expect(done.lockedBy == nil && done.leaseUntil == nil, "finishing clears the lease")
            #expect(Timestamp.date(done.finishedAt ?? "") != nil, "times in the same text format on both stores")
            #expect(try await store.processingRows().isEmpty)
        }
    }

    @Test(arguments: Kind.allCases) func aSecondClaimOfAnIdIsADuplicateAndABurstRecordsTheRest(kind: Kind) async throws {
        try await Self.withStore(kind) { store, _ in
            let first = Self.row()
            try await store.recordClaim(first)
            try await store.markFailed(first.videoID, error: "bad", reason: .other)
            let fresh = Self.row()
            let duplicates = try await store.recordClaims([Self.row(first.videoID), fresh])
            #expect(Set(duplicates.keys) == [first.videoID])
            #expect(try await store.existing([first.videoID, fresh.videoID, "nope"]) == [first.videoID, fresh.videoID])
            #expect(try await store.row(fresh.videoID)?.status == .processing)
        }
    }

    @Test(arguments: Kind.allCases) func retriesWaitTheirTimeAndShutdownDoesNotCountTheAttempt(kind: Kind) async throws {
        try await Self.withStore(kind) { store, lease in
            let r = Self.row(user: "ann")
            try await store.recordClaim(r)
            #expect(try await store.processingCount(username: "ann") == 1)
            try await lease(r.videoID)
            _ = try await store.startAttempt(r.videoID, maxAttempts: 3)
            try await store.markRetrying(r.videoID, error: "S3 down", reason: .publish, at: Date().addingTimeInterval(3600))
            #expect(try await store.retriesNotDue() == [r.videoID])
            let waiting = try #require(try await store.row(r.videoID))
            #expect(waiting.phase == .retrying && waiting.failureReason == .publish && waiting.lockedBy == nil)
            let other = Self.row()
            try await store.recordClaim(other)
            try await lease(other.videoID)
            _ = try await store.startAttempt(other.videoID, maxAttempts: 3)
            try await store.requeue(other.videoID, reason: "interrupted by shutdown")
            let back = try #require(try await store.row(other.videoID))
            #expect(back.phase == .queued && back.attempts == 0 && back.lockedBy == nil)
        }
    }

    @Test(arguments: Kind.allCases) func usedUpAttemptsFailTheJobAsCrashedAndRetryBringsItBack(kind: Kind) async throws {
        try await Self.withStore(kind) { store, lease in
            let r = Self.row()
            try await store.recordClaim(r)
            try await lease(r.videoID)
            _ = try await store.startAttempt(r.videoID, maxAttempts: 1)
            guard case .exhausted(let reason, _) = try await store.startAttempt(r.videoID, maxAttempts: 1) else {
                Issue.record("expected the job to fail")
                return
            }
            #expect(reason == .crashed)
            #expect(try await store.row(r.videoID)?.status == .failed)
            #expect(try await store.retry(ids: nil) == [r.videoID])
            let again = try #require(try await store.row(r.videoID))
            #expect(again.status == .processing && again.phase == .queued && again.attempts == 0)
            #expect(try await store.retry(ids: ["missing"]).isEmpty)
        }
    }

    @Test(arguments: Kind.allCases) func queueEntriesCarryOwnerPriorityAndTheUsersCap(kind: Kind) async throws {
        try await Self.withStore(kind) { store, _ in
            let r = Self.row(user: "bob", priority: 7)
            try await store.recordClaim(r)
            let entry = try #require(try await store.queueEntry(r.videoID))
            #expect(entry.owner == "bob" && entry.priority == 7 && entry.user == nil)
            #expect(await store.priority(asked: 5, owner: "bob") == 0, "no active user: capped to 0")
            #expect(try await store.queueEntry("missing") == nil)
        }
    }

    /// A burst's tickets come from one lookup: the same entries as asked one by one, ids without a row left out.
    @Test(arguments: Kind.allCases) func aBurstsQueueEntriesAreTheOnesAskedOneByOne(kind: Kind) async throws {
        try await Self.withStore(kind) { store, _ in
            let rows = (0..<600).map { Self.row(user: $0 % 3 == 0 ? nil : "user\($0 % 2)", priority: $0 % 5) }
            _ = try await store.recordClaims(rows)
            let ids = rows.map(\.videoID) + ["missing"]
            let entries = try await store.queueEntries(ids)
            #expect(entries.count == rows.count && entries["missing"] == nil)
            for id in [rows[0].videoID, rows[1].videoID, rows[2].videoID, rows[599].videoID] {
                #expect(try await entries[id] == store.queueEntry(id))
            }
        }
    }
}

/// What only the PostgreSQL store has: leases, `SKIP LOCKED` takes, migrations shared by nodes.
@Suite(.serialized) struct PGLeaseTests {
    static let logger = Logger(label: "test.pg")

    static func claim(_ store: PGJobStore, _ n: Int, priority: (Int) -> Int = { _ in 0 }) async throws -> [String] {
        var ids: [String] = []
        for i in 0..<n {
            let r = JobStoreContractTests.row(priority: priority(i))
            try await store.recordClaim(r)
            ids.append(r.videoID)
        }
        return ids
    }

    @Test func aDeadNodesJobIsTakenOverOnceItsLeaseRunsOutAndTheOldNodeCannotFinishIt() async throws {
        let server = try PostgresServer.shared.get()
        let url = try server.database()
        try await PGJobStore.with(url: url, node: "node-a", leaseSeconds: 30, logger: Self.logger) { a in
            try await PGJobStore.with(url: url, node: "node-b", leaseSeconds: 30, logger: Self.logger) { b in
                let id = try await Self.claim(a, 1)[0]
                #expect(try await a.take()?.videoID == id)
                _ = try await a.startAttempt(id, maxAttempts: 5)
                #expect(try await b.take() == nil, "a live lease keeps the job on node-a")
                #expect(try await a.renewLeases([id]) == 1)
                #expect(try await a.renewLeases([]) == 0, "only the leases of jobs still here are renewed")
                // node-a stops renewing (it died): its lease runs out.
                try server.sql("UPDATE videos SET lease_until = '2000-01-01T00:00:00Z' WHERE video_id = '\(id)'", url: url)
                #expect(try await b.take() == PGJobStore.Taken(videoID: id, previousNode: "node-a"))
                await #expect(throws: LeaseLost.self) {
                    try await a.markReady(id, PublishedVideo(videoURL: "http://a/", thumbnailURL: nil))
                }
                await #expect(throws: LeaseLost.self) { try await a.setPhase(id, .uploading, progress: 0.9) }
                guard case .started(let row) = try await b.startAttempt(id, maxAttempts: 5) else {
                    Issue.record("node-b could not start")
                    return
                }
                #expect(row.attempts == 2 && row.lockedBy == "node-b")
                try await b.markReady(id, PublishedVideo(videoURL: "http://b/", thumbnailURL: nil))
                #expect(try await a.row(id)?.videoURL == "http://b/")
                #expect(try server.sql("SELECT count(*) FROM events WHERE video_id = '\(id)' AND status = 'ready'", url: url) == "1")
                #expect(try server.sql("SELECT count(*) FROM events WHERE video_id = '\(id)' AND message = 'claimed'", url: url) == "1")
            }
        }
    }

    @Test func nodesTakingAtOnceGetDisjointJobsInPriorityOrder() async throws {
        let server = try PostgresServer.shared.get()
        let url = try server.database()
        try await PGJobStore.with(url: url, node: "node-a", leaseSeconds: 30, logger: Self.logger) { a in
            try await PGJobStore.with(url: url, node: "node-b", leaseSeconds: 30, logger: Self.logger) { b in
                let ids = try await Self.claim(a, 40, priority: { $0 == 39 ? 9 : 0 })
                #expect(try await a.take()?.videoID == ids[39], "highest priority first")
                let (fromA, fromB) = try await withThrowingTaskGroup(of: (String, [String]).self) { group in
                    for (name, store) in [("a", a), ("b", b)] {
                        group.addTask {
                            var got: [String] = []
                            while let t = try await store.take() { got.append(t.videoID) }
                            return (name, got)
                        }
                    }
                    var result: [String: [String]] = [:]
                    for try await (name, got) in group { result[name] = got }
                    return (result["a"] ?? [], result["b"] ?? [])
                }
                #expect(Set(fromA).isDisjoint(with: fromB))
                #expect(Set(fromA + fromB) == Set(ids.dropLast()))
                #expect(fromA.count + fromB.count == 39)
                #expect(try server.sql("SELECT count(*) FROM videos WHERE locked_by IS NULL", url: url) == "0")
                let (holder, given) = fromB.isEmpty ? (a, fromA[0]) : (b, fromB[0])
                try await holder.release(given)
                #expect(try await a.take()?.videoID == given, "a released job is taken again")
            }
        }
    }

    /// A user's running cap holds across nodes: their next job waits while they have that many leases, and another
    /// user's job (or an ownerless one) goes first; an admin and an unlimited user are not capped.
    @Test func aUsersRunningCapHoldsAcrossNodes() async throws {
        let server = try PostgresServer.shared.get()
        let url = try server.database()
        try await PGJobStore.with(url: url, node: "node-a", logger: Self.logger) { a in
            try await PGJobStore.with(url: url, node: "node-b", logger: Self.logger) { b in
                try server.sql("""
                    INSERT INTO users (username, token_hash, created_at, max_running_jobs) VALUES ('ann', 'h1', 'x', 1);
                    INSERT INTO users (username, token_hash, created_at, is_admin) VALUES ('root', 'h2', 'x', 1);
                    """, url: url)
                var ids: [String: String] = [:]
                for (name, user, priority) in [("ann1", "ann", 9), ("ann2", "ann", 8), ("bob1", "bob", 1), ("root1", "root", 0),
                                               ("root2", "root", 0), ("anon", nil, 0)] {
                    let r = JobStoreContractTests.row(user: user, priority: priority)
                    try await a.recordClaim(r)
                    ids[name] = r.videoID
                }
                #expect(try await a.take(defaultRunningCap: 1)?.videoID == ids["ann1"])
                #expect(try await b.take(defaultRunningCap: 1)?.videoID == ids["bob1"], "ann is at her cap on node-a")
                var rest: [String] = []
                while let t = try await b.take(defaultRunningCap: 1) { rest.append(t.videoID) }
                #expect(Set(rest) == [ids["root1"]!, ids["root2"]!, ids["anon"]!], "admins and ownerless jobs are not capped")
                _ = try await a.startAttempt(ids["ann1"]!, maxAttempts: 3)
                try await a.markReady(ids["ann1"]!, PublishedVideo(videoURL: "http://a/", thumbnailURL: nil))
                #expect(try await b.take(defaultRunningCap: 1)?.videoID == ids["ann2"], "her next job once one ended")
            }
        }
    }

    @Test func nodesStartingTogetherMigrateOnceAndAStoreFromANewerInboxdIsRefused() async throws {
        let server = try PostgresServer.shared.get()
        let url = try server.database()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<3 {
                group.addTask {
                    try await PGJobStore.with(url: url, node: "n\(n)", logger: Self.logger) { _ in }
                }
            }
            try await group.waitForAll()
        }
        let names = try server.sql("SELECT name FROM schema_migrations ORDER BY name", url: url).split(separator: "\n").map(String.init)
        #expect(names == PGJobStore.migrations.map(\.name).sorted())
        #expect(names.contains("v8: leases"))
        let columns = try server.sql("SELECT column_name FROM information_schema.columns WHERE table_name = 'videos'", url: url)
        #expect(columns.contains("locked_by") && columns.contains("lease_until") && columns.contains("failure_reason"))
        try server.sql("INSERT INTO schema_migrations VALUES ('v99: future', 'x')", url: url)
        await #expect(throws: StoreError.self) {
            try await PGJobStore.with(url: url, logger: Self.logger) { _ in }
        }
    }

    @Test func aBadStoreURLIsAClearConfigError() throws {
        #expect(throws: ConfigError.self) { try PGJobStore.configuration(url: "mysql://x@y/z") }
        #expect(throws: ConfigError.self) { try PGJobStore.configuration(url: "postgres://host-without-user/db") }
        #expect(throws: ConfigError.self) { try PGJobStore.configuration(url: "postgres://u@h/db?sslmode=sometimes") }
        #expect(throws: Never.self) { try PGJobStore.configuration(url: "postgres://u:p@h:5433/db?sslmode=disable") }
    }
}
