import Foundation
import GRDB
@testable import HTTPKit
@testable import StatusAPI
import Store
import Testing

@Suite struct StatusAPIUnitTests {
    func row(status: JobStatus = .processing, progress: Double, startedSecondsAgo: Double?, now: Date) -> VideoRow {
        var r = VideoRow(videoID: UUID().uuidString.lowercased(), title: "t", source: .http)
        r.status = status
        r.progress = progress
        r.startedAt = startedSecondsAgo.map { Timestamp.string(now.addingTimeInterval(-$0)) }
        return r
    }

    @Test func theETAFollowsTheProgressRateAndIsNullWhenUnknown() {
        let now = Timestamp.date("2030-01-01T00:01:00Z")!
        #expect(ETA.seconds(for: row(progress: 0.4, startedSecondsAgo: 20, now: now), now: now) == 30)
        #expect(ETA.seconds(for: row(progress: 0.5, startedSecondsAgo: 60, now: now), now: now) == 60)
        #expect(ETA.seconds(for: row(progress: 0, startedSecondsAgo: 20, now: now), now: now) == nil)
        #expect(ETA.seconds(for: row(progress: 0.4, startedSecondsAgo: nil, now: now), now: now) == nil)
        #expect(ETA.seconds(for: row(status: .failed, progress: 0.4, startedSecondsAgo: 20, now: now), now: now) == nil)
        #expect(ETA.seconds(for: row(status: .ready, progress: 1, startedSecondsAgo: 20, now: now), now: now) == 0)
    }

    @Test func cursorsRoundTripAndForeignOnesAreRejected() {
        let c = VideoListRoutes.encodeCursor(created: "2030-01-01T00:00:00Z", id: "ab-12")
        #expect(c.range(of: #"^([0-9a-f]{2}){1,64}\.[0-9A-Za-z-]{1,64}$"#, options: .regularExpression) != nil, "\(c)")
        #expect(VideoListRoutes.decodeCursor(c)! == ("2030-01-01T00:00:00Z", "ab-12"))
        for bad in ["garbage", "", "abc.x", "zz.x", "00.", "00.a b"] {
            #expect(VideoListRoutes.decodeCursor(bad) == nil, "\(bad)")
        }
    }

    @Test func phaseDurationsComeFromConsecutiveAuditEntries() {
        func e(_ id: Int64, _ status: JobStatus, _ phase: JobPhase, _ at: String) -> EventRow {
            var r = EventRow(videoID: "v", status: status, phase: phase, message: nil, at: at)
            r.id = id
            return r
        }
        var t = PhaseTracker()
        let first = t.apply([e(1, .processing, .queued, "2030-01-01T00:00:00Z"),
                             e(2, .processing, .queued, "2030-01-01T00:00:02Z"),
                             e(3, .processing, .probing, "2030-01-01T00:00:05Z")])
        #expect(first.map(\.0) == [.queued] && first.map(\.1) == [5])
        let second = t.apply([e(4, .ready, .done, "2030-01-01T00:00:09Z")])
        #expect(second.map(\.0) == [.probing] && second.map(\.1) == [4])
        #expect(t.lastEventID == 4)
    }

    @Test func onlyKnownPathsWithOtherMethodsAre405() {
        let m = UnmatchedRouteMiddleware<BasicRequestContextStub>.matches
        #expect(m("/api/videos/{video_id}/status", ["api", "videos", "x", "status"]))
        #expect(!m("/api/videos/{video_id}/status", ["api", "videos", "x"]))
        #expect(!m("/healthz", ["metrics"]))
    }
    // The status store cannot write the db: `InboxDaemonTests/StoreSchemaTests.theStatusSideCannotWrite`, on both stores.
}

import Hummingbird
typealias BasicRequestContextStub = BasicRequestContext
