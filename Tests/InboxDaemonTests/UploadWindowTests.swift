import Foundation
@testable import InboxDaemon
import Store
import Testing

/// The receiver's per-user rate windows and the limits that apply to whom, without a server.
@Suite struct UploadWindowTests {
    @Test func uploadsPerMinuteRefuseTheNextUntilTheOldestLeavesTheWindow() {
        var w = UploadWindow()
        #expect(w.admit(now: 100, perMinute: 2, bytesPerHour: 0, declared: nil) == nil)
        #expect(w.admit(now: 110, perMinute: 2, bytesPerHour: 0, declared: nil) == nil)
        let refused = w.admit(now: 130, perMinute: 2, bytesPerHour: 0, declared: nil)
        #expect(refused?.retryAfter == 30, "the upload at 100 leaves the window at 160")
        #expect(refused?.detail.contains("uploads_per_minute") == true)
        #expect(w.admit(now: 160.5, perMinute: 2, bytesPerHour: 0, declared: nil) == nil)
        #expect(w.admit(now: 161, perMinute: 0, bytesPerHour: 0, declared: nil) == nil, "0 = unlimited")
    }

    @Test func bytesPerHourCountWhatWasReceivedPlusWhatIsDeclared() {
        var w = UploadWindow()
        #expect(w.admit(now: 0, perMinute: 0, bytesPerHour: 1000, declared: 600) == nil)
        w.record(bytes: 600, now: 0)
        #expect(w.admit(now: 10, perMinute: 0, bytesPerHour: 1000, declared: 300) == nil)
        w.record(bytes: 300, now: 10)
        let refused = w.admit(now: 20, perMinute: 0, bytesPerHour: 1000, declared: 200)
        #expect(refused?.retryAfter == 3580, "enough room once the 600 bytes of t=0 expire at 3600")
        #expect(w.admit(now: 20, perMinute: 0, bytesPerHour: 1000, declared: 5000)?.retryAfter == 3600, "never fits")
        #expect(w.admit(now: 3601, perMinute: 0, bytesPerHour: 1000, declared: 200) == nil)
    }

    @Test func adminsAreNotThrottledByDefaultButTheirRowWins() {
        let defaults = UserLimits(maxRunningJobs: nil, maxQueuedJobs: 10, uploadsPerMinute: 5, uploadBytesPerHour: 100)
        var admin = UserRow(username: "root", canUpload: true, isAdmin: true, tokenHash: "x")
        #expect(defaults.effective(for: admin) == UserLimits(maxRunningJobs: 0, maxQueuedJobs: 0, uploadsPerMinute: 0, uploadBytesPerHour: 0))
        admin.uploadsPerMinute = 3
        #expect(defaults.effective(for: admin).uploadsPerMinute == 3)
        var user = UserRow(username: "u", canUpload: true, isAdmin: false, tokenHash: "y")
        #expect(defaults.effective(for: user) == defaults)
        #expect(defaults.effective(for: nil) == defaults, "a name with no users row gets the defaults")
        user.maxRunningJobs = 4
        #expect(defaults.effective(for: user).runningCap(workers: 8) == 4)
        #expect(defaults.runningCap(workers: 8) == 7 && defaults.runningCap(workers: 1) == 1, "workers - 1, at least 1")
    }

    @Test func statsWindowsTakeTimesAndAgesAndRefuseTheRest() throws {
        let now = try #require(Timestamp.date("2026-06-01T12:00:00Z"))
        let w = try StatsWindow.parse(since: "90m", until: nil, now: now)
        #expect(Timestamp.string(w.since) == "2026-06-01T10:30:00Z" && w.until == now)
        #expect(Timestamp.string(try StatsWindow.parse(since: nil, until: "1d", now: now).since) == "2026-05-30T12:00:00Z")
        #expect(try StatsWindow.parse(since: "2026-06-01T00:00:00Z", until: "2026-06-01T01:00:00Z", now: now).hours == 1)
        for bad in ["yesterday", "-5m", "5w", "2026-02-30T00:00:00Z", "2026-06-01 00:00:00", ""] {
            #expect(throws: StatsWindow.Problem.invalid(field: "since", value: bad)) { try StatsWindow.parse(since: bad, until: nil, now: now) }
        }
        #expect(throws: StatsWindow.Problem.self) { try StatsWindow.parse(since: "0s", until: nil, now: now) }
        let d = JobStats.Distribution([5, 1, 4, 2, 3, 10, 6, 7, 8, 9])
        #expect(d.count == 10 && d.p50 == 5 && d.p95 == 10 && d.max == 10)
        #expect(JobStats.Distribution([]).p50 == nil)
    }
}
