import Foundation
import Logging
import PostgresNIO

/// The receiver's per-user upload windows (`uploads_per_minute`, `upload_bytes_per_hour`) counted in the shared
/// store, so a user behind a load balancer gets each limit once across all nodes: `upload_usage` holds one row per
/// admitted upload start (`bytes` null) and one per accepted upload's bytes, at the database's clock; rows older
/// than the hour window are pruned as uploads come.
extension PGJobStore: SharedUploadWindows {
    /// The key space of the per-user upload locks, `pg_advisory_xact_lock(space, hashtext(username))` ("upld").
    static let uploadLockSpace: Int32 = 0x7570_6C64

    /// The database's clock in seconds since 1970, as `UploadWindow` counts.
    private static let epochNow = "extract(epoch FROM clock_timestamp())::float8"

    func admitUpload(username: String, _ decide: @Sendable (inout UploadWindow, Double) -> UploadWindow.Refusal?) async throws
        -> UploadWindow.Refusal? {
        try await transaction { c, logger in
            // Held to the end of the transaction: another node admitting this user waits here, then sees this start.
            try await c.query("SELECT pg_advisory_xact_lock(\(Self.uploadLockSpace), hashtext(\(username)))", logger: logger)
            var now = 0.0
            for try await t in try await c.query("SELECT \(unescaped: Self.epochNow)", logger: logger).decode(Double.self) { now = t }
            try await c.query("DELETE FROM upload_usage WHERE username = \(username) AND at <= \(now - 3600)", logger: logger)
            var starts: [Double] = [], bytes: [(at: Double, count: Int64)] = []
            for try await (at, count) in try await c.query("""
                SELECT at, bytes FROM upload_usage WHERE username = \(username) ORDER BY at, id
                """, logger: logger).decode((Double, Int64?).self) {
                if let count { bytes.append((at, count)) } else { starts.append(at) }
            }
            var window = UploadWindow(starts: starts, bytes: bytes)
            if let refusal = decide(&window, now) { return refusal }
            try await c.query("INSERT INTO upload_usage (username, at) VALUES (\(username), \(now))", logger: logger)
            return nil
        }
    }

    /// Counts the bytes, and prunes every user's entries older than the hour window.
    func recordUploadBytes(username: String, bytes: Int64) async throws {
        try await transaction { c, logger in
            try await c.query("""
                INSERT INTO upload_usage (username, at, bytes) VALUES (\(username), \(unescaped: Self.epochNow), \(bytes))
                """, logger: logger)
            try await c.query("DELETE FROM upload_usage WHERE at <= \(unescaped: Self.epochNow) - 3600", logger: logger)
        }
    }
}
