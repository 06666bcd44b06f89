import Foundation
import TestSupport
import Testing

/// `convert_yield_rps`: while the HTTP API is flooded, running conversions pause, and they go on once it is not.
@Suite(.serialized) struct APIYieldTests {
    @Test func aFloodOfRequestsPausesTheRunningConversionUntilItEnds() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 12, width: 640, height: 480)
        var options = DaemonHarness.Options()
        options.workers = 1
        options.extraTOML = "convert_yield_rps = 20"
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "clip.webm", sidecar: ["title": "clip"])
        let id = try d.videoID(title: "clip")
        _ = try waitForPhase(d, id, "converting")
        #expect(!d.logText().contains("conversions paused"))

        // Four clients asking as fast as they get answers: far above 20 requests a second.
        let deadline = Date().addingTimeInterval(3)
        let healthz = "\(d.baseURL)/healthz"
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            while Date() < deadline { _ = try? HTTPClient.get(healthz) }
        }
        try d.waitForLog("conversions paused: the HTTP API is flooded", timeout: 10)
        #expect(d.logText().contains("http.requests_per_second="))

        // Quiet again: the conversion goes on and finishes.
        try d.waitForLog("conversions resumed", timeout: 30)
        let j = try d.waitFor(id, timeout: 240)
        #expect(j["status"] as? String == "ready", "\(j)")
    }

    @Test func aNegativeThresholdIsAConfigError() throws {
        var options = DaemonHarness.Options()
        options.extraTOML = "convert_yield_rps = -1"
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        let run = try d.runToExit()
        #expect(run.status != 0)
        #expect(run.output.contains("convert_yield_rps"), "\(run.output)")
    }
}
