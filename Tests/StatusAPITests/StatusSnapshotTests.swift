import Foundation
import GRDB
import HTTPKit
import Hummingbird
@testable import StatusAPI
import Store
import Testing

/// The `/status` snapshot: answers identical to encoding the row afresh, a running job's ETA following the clock,
/// writes behind the daemon's back (`sqlite3`) seen at once, a bounded size.
@Suite struct StatusSnapshotTests {
    struct DB {
        let path: String
        let writer: DatabasePool
        func remove() { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
    }

    static func db() throws -> DB {
        let path = NSTemporaryDirectory() + "inboxd-snapshot-\(UUID().uuidString).db"
        return DB(path: path, writer: try StoreDatabase.openWriter(path: path))
    }

    /// The answer encoded from the row as the uncached path does.
    static func fresh(_ store: StatusStore, _ id: String, now: Date) async throws -> StatusAnswer {
        let status = try await store.db.read { db in try VideoQueries.statusColumns(db, id).map { try StatusResponse(row: $0, now: now) } }
        return try StatusAnswer(try #require(status))
    }

    @Test func aRunningJobsAnswerFollowsTheClockAndMatchesTheEncoderByteForByte() async throws {
        let db = try Self.db()
        defer { db.remove() }
        let started = Date().addingTimeInterval(-100)
        try await db.writer.write { db in
            var r = VideoRow(videoID: "run", title: "a \"quoted\" title ✓ / \\", source: .http)
            r.phase = .converting
            r.progress = 0.3
            r.startedAt = Timestamp.string(started)
            try r.insert(db)
            var f = VideoRow(videoID: "failed", title: "f", source: .drop)
            f.status = .failed
            f.error = "bad media"
            f.failureReason = .unreadableMedia
            try f.insert(db)
        }
        let store = try StatusStore(path: db.path)
        var tags = Set<String>()
        for seconds in [0.0, 1, 7.25, 1e6, 1e13] {
            let now = Date().addingTimeInterval(seconds)
            for id in ["run", "failed"] {
                let answer = try #require(try await store.statusAnswer(id, now: now))
                let fresh = try await Self.fresh(store, id, now: now)
                #expect(String(buffer: answer.body) == String(buffer: fresh.body))
                #expect(answer.tag == fresh.tag)
                if id == "run" { tags.insert(answer.tag) }
            }
        }
        #expect(tags.count == 5, "the ETA, and so the tag, changes with the clock")
        #expect(store.snapshot?.hits == 8 && store.snapshot?.misses == 2)
        #expect(try await store.statusAnswer("missing", now: Date()) == nil)
    }

    @Test func numbersAreWrittenAsJSONEncoderWritesThem() throws {
        for value in [0, 1, 0.1, 2.5, 30, 123.4, 1e15, 1e16, 1.5e17, 99_999_999.9, 0.0001, 12_345_678_901.2] {
            let encoded = String(decoding: try JSONEncoder.api.encode(value), as: UTF8.self)
            #expect(StatusAnswer.jsonNumber(value) == encoded)
        }
        #expect(StatusAnswer.jsonNumber(nil) == "null")
    }

    @Test func aChangeMadeWithSqlite3BehindTheDaemonsBackIsSeenAtOnce() async throws {
        let db = try Self.db()
        defer { db.remove() }
        try await db.writer.write { db in try VideoRow(videoID: "v", title: "before", source: .http).insert(db) }
        let store = try StatusStore(path: db.path)
        _ = try await store.statusAnswer("v", now: Date())
        let cached = try #require(try await store.statusAnswer("v", now: Date()))
        #expect(store.snapshot?.hits == 1)

        let sqlite3 = Process()
        sqlite3.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite3.arguments = [db.path, "UPDATE videos SET status = 'failed', error = 'by hand' WHERE video_id = 'v'"]
        try sqlite3.run()
        sqlite3.waitUntilExit()
        #expect(sqlite3.terminationStatus == 0)

        let after = try #require(try await store.statusAnswer("v", now: Date()))
        let text = String(buffer: after.body)
        #expect(text.contains(#""error":"by hand""#) && text.contains(#""status":"failed""#), "\(text)")
        #expect(after.tag != cached.tag)
        #expect(text == String(buffer: try await Self.fresh(store, "v", now: Date()).body))
    }

    @Test func theSnapshotHoldsAtMostItsCapacityAndOffMeansNone() async throws {
        let db = try Self.db()
        defer { db.remove() }
        let ids = (0..<20).map { "v\($0)" }
        try await db.writer.write { db in for id in ids { try VideoRow(videoID: id, title: id, source: .http).insert(db) } }
        let store = try StatusStore(path: db.path, cacheEntries: 6)
        let snapshot = try #require(store.snapshot)
        for _ in 0..<3 {
            for id in ids {
                let answer = try #require(try await store.statusAnswer(id, now: Date()))
                #expect(String(buffer: answer.body).contains(#""title":"\#(id)""#))
                #expect(snapshot.count <= 6)
            }
        }
        // The two most recent ones are young: asked again, they come from the snapshot.
        let hits = snapshot.hits
        for id in ids.suffix(2) { _ = try await store.statusAnswer(id, now: Date()) }
        #expect(snapshot.hits == hits + 2)

        let off = try StatusStore(path: db.path, cacheEntries: 0)
        #expect(off.snapshot == nil)
        let answer = try #require(try await off.statusAnswer("v3", now: Date()))
        #expect(String(buffer: answer.body) == String(buffer: try await Self.fresh(off, "v3", now: Date()).body))
    }
}
