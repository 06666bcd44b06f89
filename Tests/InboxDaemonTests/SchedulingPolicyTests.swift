import Foundation
@testable import InboxDaemon
import Pipeline
import Synchronization
import Testing

/// Which queued job a free worker takes: caps, then priority, then owners taking turns, then age.
@Suite struct SchedulingPolicyTests {
    typealias T = SchedulingPolicy.Ticket

    private static func c(_ owner: String, p: Int = 0, at: String = "2026-01-01T00:00:00Z", cap: Int? = nil,
                          seq: UInt64) -> SchedulingPolicy.Candidate {
        .init(ticket: T(owner: owner, priority: p, createdAt: at, maxRunning: cap), seq: seq)
    }

    struct Case: CustomStringConvertible, Sendable {
        var description: String
        var queued: [SchedulingPolicy.Candidate]
        var running: [String: Int]
        var expected: Int?
    }

    static let cases: [Case] = [
        Case(description: "empty queue", queued: [], running: [:], expected: nil),
        Case(description: "oldest first at equal rank",
             queued: [c("a", at: "2026-01-01T00:00:02Z", seq: 2), c("a", at: "2026-01-01T00:00:01Z", seq: 1)], running: [:], expected: 1),
        Case(description: "same second: queue order", queued: [c("a", seq: 2), c("a", seq: 1)], running: [:], expected: 1),
        Case(description: "highest priority first, even if younger",
             queued: [c("a", seq: 1), c("b", p: 5, at: "2026-01-02T00:00:00Z", seq: 2)], running: [:], expected: 1),
        Case(description: "priority beats fair share", queued: [c("a", seq: 1), c("b", p: 3, seq: 2)], running: ["b": 5], expected: 1),
        Case(description: "equal priority: the owner with fewer running jobs goes first (a bulk drop does not starve others)",
             queued: [c("a", seq: 1), c("a", seq: 2), c("b", at: "2026-01-01T00:01:00Z", seq: 3)], running: ["a": 1], expected: 2),
        Case(description: "equal running counts: oldest",
             queued: [c("a", seq: 1), c("b", at: "2026-01-01T00:01:00Z", seq: 2)], running: ["a": 1, "b": 1], expected: 0),
        Case(description: "an owner at max_running_jobs is skipped, even with higher priority",
             queued: [c("a", p: 9, cap: 1, seq: 1), c("b", seq: 2)], running: ["a": 1], expected: 1),
        Case(description: "every owner at its cap: nothing starts",
             queued: [c("a", cap: 1, seq: 1), c("b", cap: 2, seq: 2)], running: ["a": 1, "b": 2], expected: nil),
        Case(description: "below the cap: eligible", queued: [c("a", cap: 2, seq: 1)], running: ["a": 1], expected: 0),
        Case(description: "no cap (admin, ownerless): never skipped", queued: [c("", seq: 1)], running: ["": 40], expected: 0),
        Case(description: "negative priority runs after the default",
             queued: [c("a", p: -1, seq: 1), c("b", at: "2026-01-03T00:00:00Z", seq: 2)], running: [:], expected: 1),
    ]

    @Test(arguments: cases)
    func policy(_ c: Case) {
        #expect(SchedulingPolicy.pick(c.queued, running: c.running) == c.expected, "\(c.description)")
    }

    private func job(_ dir: String, _ id: String) throws -> ClaimedJob { try JobQueueTests.job(dir, id) }

    /// The queue applies the policy as workers come and go: user A queues 30 jobs and two start; B queues one
    /// afterwards, and it is the next to start, and a capped owner's job waits until one of theirs finishes.
    @Test func aBulkDropDoesNotStarveAnotherUsersJobAndCapsHoldUntilAJobEnds() async throws {
        let dir = NSTemporaryDirectory() + "inboxd-sched-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let owners = Mutex<[String: T]>([:])
        let queue = JobQueue { ids in owners.withLock { known in known.filter { ids.contains($0.key) } } }
        for i in 0..<30 {
            owners.withLock { $0["a\(i)"] = T(owner: "alice", createdAt: String(format: "2026-01-01T00:00:%02dZ", i)) }
            #expect(await queue.enqueue(try job(dir, "a\(i)")))
        }
        let first = await queue.next()?.videoID, second = await queue.next()?.videoID
        #expect([first, second] == ["a0", "a1"])
        owners.withLock { $0["b0"] = T(owner: "bob", createdAt: "2026-01-01T00:01:00Z") }
        #expect(await queue.enqueue(try job(dir, "b0")))
        await queue.finished("a0")
        #expect(await queue.next()?.videoID == "b0", "bob's job starts before alice's third")
        #expect(await queue.next()?.videoID == "a2")

        // A capped owner: carol may run one job at a time; her second waits although a worker is idle.
        let capped = JobQueue { ids in Dictionary(ids.map { ($0, T(owner: "carol", createdAt: $0, maxRunning: 1)) }, uniquingKeysWith: { a, _ in a }) }
        #expect(await capped.enqueue(try job(dir, "c1")))
        #expect(await capped.enqueue(try job(dir, "c2")))
        #expect(await capped.next()?.videoID == "c1")
        async let waiting = capped.next()
        try await Task.sleep(for: .milliseconds(50))
        #expect(await capped.queued == 1, "c2 is still queued while c1 runs")
        await capped.finished("c1")
        #expect(await waiting?.videoID == "c2")
    }
}
