import Foundation
import TestSupport
import Testing

/// `convert_yield_rps`: while the HTTP API is flooded, running conversions pause, and they go on once it is not.
@Suite(.serialized) struct APIYieldTests {
    /// `python3 -c flood PORT SECONDS`: four threads, each on one keep-alive connection, GET /healthz in a loop;
    /// prints how many answers came back.
    static let flood = """
        import http.client, sys, threading, time
        port, seconds = int(sys.argv[1]), float(sys.argv[2])
        end = time.monotonic() + seconds
        counts = [0] * 4
        def run(i):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            while time.monotonic() < end:
                c.request("GET", "/healthz")
                c.getresponse().read()
                counts[i] += 1
        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(sum(counts))
        """

    @Test func aFloodOfRequestsPausesTheRunningConversionUntilItEnds() throws {
        let media = try MediaFactory()
        let src = try media.vp9Opus(seconds: 40, width: 640, height: 480)
        var options = DaemonHarness.Options()
        options.workers = 1
        options.extraTOML = "convert_yield_rps = 200"
        let d = try DaemonHarness(options)
        defer { d.cleanUp() }
        try d.start()
        try d.drop(media: src, as: "clip.webm", sidecar: ["title": "clip"])
        let id = try d.videoID(title: "clip")
        _ = try waitForPhase(d, id, "converting")
        #expect(!d.logText().contains("conversions paused"))

        // Four keep-alive clients asking as fast as they get answers for 3 s: thousands of requests a second, far
        // above 200 (the polling above asks 10 a second).
        let flood = try Shell.run("python3", ["-c", Self.flood, "\(d.port)", "3"])
        let asked = Int(flood.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(asked > 3 * 400, "the flood only made \(asked) requests")
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
