import GRDB

/// What the status change feeds read: where the audit log ends now, and which jobs changed since.
extension VideoQueries {
    /// The newest audit entry's id (0 for an empty log): a feed starting now reads after it.
    public static func lastEventID(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT COALESCE(max(id), 0) FROM events") ?? 0
    }

    /// Rows of the jobs with audit entries after `id`, in the order of their latest such entry, and the last id read.
    public static func changedSince(_ db: Database, after id: Int64, limit: Int) throws -> (rows: [VideoRow], lastID: Int64) {
        let entries = try Row.fetchAll(db, sql: "SELECT id, video_id FROM events WHERE id > ? ORDER BY id LIMIT ?",
                                       arguments: [id, limit])
        guard let last: Int64 = entries.last?["id"] else { return ([], id) }
        var seen = Set<String>()
        var ids: [String] = []
        for entry in entries.reversed() {
            let videoID: String = entry["video_id"]
            if seen.insert(videoID).inserted { ids.append(videoID) }
        }
        return (try ids.reversed().compactMap { try row(db, $0) }, last)
    }
}
