import Foundation
import HTTPKit
import Hummingbird
@testable import InboxDaemon
import Store
import Testing
import TestSupport

/// The receiver's per-user upload windows on nodes sharing a PostgreSQL store: two `PGJobStore`s (two nodes) on one
/// real database, each with its own `UploadRateLimiter` counting in the store (`upload_usage`).
@Suite(.serialized) struct SharedUploadWindowTests {
    static let erin = UserRow(username: "erin", canUpload: true, isAdmin: false, tokenHash: "h")

    static func withTwoNodes(_ limits: UserLimits, _ body: @Sendable (UploadRateLimiter, UploadRateLimiter, _ sql: (String) throws -> String)
        async throws -> Void) async throws {
        let server = try PostgresServer.shared.get()
        let url = try server.database()
        try await PGJobStore.with(url: url, node: "node-a", logger: StoreRig.logger) { a in
            try await PGJobStore.with(url: url, node: "node-b", logger: StoreRig.logger) { b in
                try await body(UploadRateLimiter(defaults: limits, shared: a), UploadRateLimiter(defaults: limits, shared: b),
                               { try server.sql($0, url: url) })
            }
        }
    }

    static func refusal(_ limiter: UploadRateLimiter, declared: Int64? = nil) async -> APIError? {
        do {
            try await limiter.admit(erin, declared: declared, queued: 0)
            return nil
        } catch let e as APIError {
            return e
        } catch {
            Issue.record("not a refusal: \(error)")
            return nil
        }
    }

    @Test func uploadsAlternatingBetweenNodesShareOneWindow() async throws {
        try await Self.withTwoNodes(UserLimits(maxQueuedJobs: 0, uploadsPerMinute: 2)) { a, b, sql async throws in
            #expect(await Self.refusal(a) == nil)
            #expect(await Self.refusal(b) == nil)
            for node in [a, b] {
                let refused = try #require(await Self.refusal(node))
                #expect(refused.status == .tooManyRequests && refused.error == "rate_limited")
                #expect(refused.detail.hasPrefix("more than 2 uploads in a minute (uploads_per_minute); try again in "), "\(refused.detail)")
                #expect(refused.headers[.retryAfter].flatMap { Int($0) }.map { (1...60).contains($0) } == true)
            }
            // The oldest start leaves the window (moved back by an admin's SQL): one more is admitted, on either node.
            _ = try sql("UPDATE upload_usage SET at = at - 61 WHERE id = (SELECT min(id) FROM upload_usage)")
            #expect(await Self.refusal(b) == nil)
            #expect(await Self.refusal(a) != nil)
            // Entries older than the hour are pruned as uploads come.
            _ = try sql("INSERT INTO upload_usage (username, at) VALUES ('erin', 1), ('erin', 2)")
            #expect(await Self.refusal(a) != nil)
            #expect(try sql("SELECT count(*) FROM upload_usage WHERE at < 1000") == "0")
        }
    }

    /// Two nodes admitting at the same instant never both take the last slot: the per-user lock serialises them.
    @Test func concurrentUploadsOnTwoNodesAdmitExactlyTheLimit() async throws {
        try await Self.withTwoNodes(UserLimits(maxQueuedJobs: 0, uploadsPerMinute: 3)) { a, b, sql async throws in
            let admitted = await withTaskGroup(of: Bool.self) { group in
                for i in 0..<16 {
                    group.addTask { await Self.refusal(i % 2 == 0 ? a : b) == nil }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(admitted == 3)
            #expect(try sql("SELECT count(*) FROM upload_usage") == "3")
        }
    }

    @Test func bytesReceivedOnOneNodeCountOnTheOther() async throws {
        try await Self.withTwoNodes(UserLimits(maxQueuedJobs: 0, uploadsPerMinute: 0, uploadBytesPerHour: 1000)) { a, b, sql async throws in
            #expect(await Self.refusal(a, declared: 600) == nil)
            await a.recordAccepted(Self.erin, bytes: 600)
            #expect(await Self.refusal(b, declared: 300) == nil)
            await b.recordAccepted(Self.erin, bytes: 300)
            let refused = try #require(await Self.refusal(b, declared: 200))
            #expect(refused.detail.hasPrefix("more than 1000 upload bytes in an hour (upload_bytes_per_hour)"), "\(refused.detail)")
            #expect(refused.headers[.retryAfter].flatMap { Int($0) }.map { (3500...3600).contains($0) } == true)
            let tooBig = try #require(await Self.refusal(a, declared: 5000))
            #expect(tooBig.detail.contains("exceeds upload_bytes_per_hour (1000) on its own") && tooBig.headers[.retryAfter] == "3600")
            #expect(try sql("SELECT sum(bytes) FROM upload_usage WHERE username = 'erin'") == "900")
        }
    }
}
