import Foundation
@testable import InboxDaemon
import Pipeline
import Synchronization
import Testing

/// The in-memory queue between the claimer and the workers.
@Suite struct JobQueueTests {
    private func job(_ dir: String, _ id: String) throws -> ClaimedJob { try Self.job(dir, id) }

    /// A claimed job; each call locks a directory of its own (a second lock on one directory would fail).
    static func job(_ dir: String, _ id: String) throws -> ClaimedJob {
        let path = dir + "/" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return ClaimedJob(videoID: id, lock: try #require(DirectoryLock(path: path)))
    }

    @Test func jobsComeOutInOrderOnceEachAndAKnownIdIsNotQueuedTwice() async throws {
        let dir = NSTemporaryDirectory() + "inboxd-queue-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let queue = JobQueue()
        #expect(await queue.enqueue(try job(dir, "a")))
        #expect(await queue.enqueue(try job(dir, "b")))
        #expect(await !queue.enqueue(try job(dir, "a")), "already queued")
        #expect(await queue.isKnown("a"))
        #expect(await !queue.isKnown("c"))
        let first = await queue.next()
        #expect(first?.videoID == "a")
        await queue.started("a", control: JobControl())
        #expect(await !queue.enqueue(try job(dir, "a")), "already running")
        #expect(await queue.running == 1)
        await queue.finished("a")
        #expect(await queue.next()?.videoID == "b")
        #expect(await queue.running == 0)
    }

    /// Whether the worker asks before or after the job arrives, it gets it; a closed queue answers nil.
    @Test func aWaitingWorkerGetsTheNextJobAndCloseReleasesTheRest() async throws {
        let dir = NSTemporaryDirectory() + "inboxd-queue-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let queue = JobQueue()
        async let waiting = queue.next()
        #expect(await queue.enqueue(try job(dir, "x")))
        #expect(await waiting?.videoID == "x")

        async let idle = queue.next()
        await queue.close()
        #expect(await idle == nil)
        #expect(await !queue.enqueue(try job(dir, "y")), "closed")
        #expect(await queue.next() == nil)
    }

    /// A burst is queued with one ticket lookup for all its new ids; known ids (and a repeat within the burst) are
    /// refused, and the tickets rank the jobs.
    @Test func aBurstIsQueuedWithOneTicketLookup() async throws {
        let dir = NSTemporaryDirectory() + "inboxd-queue-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        final class Lookups: Sendable { let ids = Mutex<[[String]]>([]) }
        let lookups = Lookups()
        let queue = JobQueue { ids in
            lookups.ids.withLock { $0.append(ids) }
            return ["c": SchedulingPolicy.Ticket(priority: 5)]
        }
        #expect(await queue.enqueue(try job(dir, "a")))
        let queued = await queue.enqueue([try job(dir, "b"), try job(dir, "a"), try job(dir, "c"), try job(dir, "b")])
        #expect(queued == [true, false, true, false])
        #expect(lookups.ids.withLock { $0 } == [["a"], ["b", "c", "b"]])
        #expect(await queue.queued == 3)
        #expect(await queue.next()?.videoID == "c", "the higher priority first")
        #expect(await queue.next()?.videoID == "a")
        #expect(await queue.next()?.videoID == "b")
    }

    @Test func cancelAllStopsEveryRunningJobWithTheCause() async {
        let queue = JobQueue()
        let one = JobControl(), two = JobControl()
        await queue.started("1", control: one)
        await queue.started("2", control: two)
        await queue.cancelAll(.shutdown)
        #expect(one.isCancelled && two.isCancelled && one.cancelCause == .shutdown)
    }
}
