import Foundation
import GRDB
import Store
import TestSupport
import Testing

/// The state enums are the db's text: admins' SQL sees the same words the Swift code names, and a word the code
/// does not know is an error that says which word.
@Suite struct JobStateTests {
    func roundTrips<T: DatabaseValueConvertible & RawRepresentable & CaseIterable & Equatable>(_: T.Type) where T.RawValue == String {
        for value in T.allCases {
            #expect(value.databaseValue == value.rawValue.databaseValue, "\(value)")
            #expect(T.fromDatabaseValue(value.rawValue.databaseValue) == value, "\(value)")
        }
    }

    @Test func everyStateValueIsItsTextInTheDb() {
        roundTrips(JobStatus.self)
        roundTrips(JobPhase.self)
        roundTrips(Visibility.self)
        roundTrips(JobSource.self)
        roundTrips(FailureReason.self)
        #expect(FailureReason.unsafeFile.databaseValue == "unsafe_file".databaseValue)
        #expect("\(FailureReason.unsafeFile)" == "unsafe_file", "messages show the db word, not the case name")
    }

    @Test func aRowWrittenTypedReadsBackAsTheContractText() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let pool = try StoreDatabase.openWriter(path: dir.path + "/a.db")
        var row = VideoRow(videoID: "a", title: "t", visibility: .private, source: .url, sourceURL: "https://x/v.mp4")
        row.status = .failed
        row.phase = .converting
        row.failureReason = .unreadableMedia
        try pool.write { db in try row.insert(db) }
        let text = try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT status, phase, visibility, source, failure_reason, source_url FROM videos")
        }
        #expect(text == ["status": "failed", "phase": "converting", "visibility": "private", "source": "url",
                         "failure_reason": "unreadable_media", "source_url": "https://x/v.mp4"])
        #expect(try pool.read { try VideoQueries.row($0, "a") } == row)
    }

    @Test func anUnknownStateInTheDbIsAnErrorThatNamesIt() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let pool = try StoreDatabase.openWriter(path: dir.path + "/a.db")
        try pool.write { db in
            try VideoRow(videoID: "a", title: "t", source: .drop).insert(db)
            try db.execute(sql: "UPDATE videos SET phase = 'sleeping'")  // no CHECK on phase: an admin's typo
        }
        let error = #expect(throws: (any Error).self) { try pool.read { try VideoQueries.row($0, "a") } }
        #expect("\(error.map { String(describing: $0) } ?? "")".contains("sleeping"), "\(String(describing: error))")

        let statusError = #expect(throws: (any Error).self) {
            try pool.read { db in try Row.fetchOne(db, sql: "SELECT 'published' AS status")!.decode(JobStatus.self, forColumn: "status") }
        }
        #expect(String(describing: statusError!).contains("published"))
    }

    /// A row's JSON (the failure note kept beside a rejected drop) uses the column names, so old notes still read.
    @Test func aRowsJSONKeysAreTheColumnNames() throws {
        var row = VideoRow(videoID: "a", title: "t", userID: "7", source: .http, createdAt: "2030-01-01T00:00:00Z")
        row.failureReason = .duplicateID
        row.nextAttemptAt = "2030-01-01T00:01:00Z"
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(row)) as? [String: Any])
        for key in ["video_id", "user_id", "video_url", "thumbnail_url", "failure_reason", "next_attempt_at", "created_at", "updated_at"] {
            #expect(json.keys.contains(key), "\(key)")
        }
        #expect(json["status"] as? String == "processing" && json["failure_reason"] as? String == "duplicate_id")
        #expect(try JSONDecoder().decode(VideoRow.self, from: JSONEncoder().encode(row)) == row)
    }
}
