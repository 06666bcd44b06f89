import Foundation
@testable import InboxDaemon
import Testing

/// The webhook deliverer's wake-up. The margins are wide on purpose: these check that a wait ends for the right
/// reason (a ring, a timeout, a cancel), not how fast.
@Suite struct DoorbellTests {
    private let clock = ContinuousClock()

    @Test func aRingWakesAWaitAndARingWithNobodyWaitingIsKeptOnce() async {
        let bell = Doorbell()
        bell.ring()
        bell.ring()
        var start = clock.now
        await bell.wait(atMost: .seconds(30))
        #expect(clock.now - start < .seconds(10), "a pending ring ends the wait at once")
        start = clock.now
        await bell.wait(atMost: .milliseconds(200))
        #expect(clock.now - start >= .milliseconds(200), "two rings while nobody waited are kept as one")

        Task {
            try? await Task.sleep(for: .milliseconds(100))
            bell.ring()
        }
        start = clock.now
        await bell.wait(atMost: .seconds(30))
        #expect(clock.now - start < .seconds(10), "a ring while waiting ends the wait")
    }

    /// The bug this type replaced: an `AsyncStream` raced against a timer finished when the timer won, and from then
    /// on every wait returned at once, so the idle daemon spun on a full core.
    @Test func waitsThatTimedOutLeaveTheDoorbellWorking() async {
        let bell = Doorbell()
        for _ in 0..<3 { await bell.wait(atMost: .milliseconds(20)) }
        var start = clock.now
        await bell.wait(atMost: .milliseconds(300))
        #expect(clock.now - start >= .milliseconds(300), "a wait after timeouts still waits")
        Task {
            try? await Task.sleep(for: .milliseconds(100))
            bell.ring()
        }
        start = clock.now
        await bell.wait(atMost: .seconds(30))
        #expect(clock.now - start < .seconds(10), "and a ring still wakes it")
    }

    @Test func cancellingTheWaitingTaskEndsTheWait() async {
        let bell = Doorbell()
        let waiting = Task { await bell.wait(atMost: .seconds(60)) }
        try? await Task.sleep(for: .milliseconds(50))
        let start = clock.now
        waiting.cancel()
        await waiting.value
        #expect(clock.now - start < .seconds(10))
        bell.ring()
        await bell.wait(atMost: .seconds(30))  // the doorbell still works after a cancelled wait
    }
}
