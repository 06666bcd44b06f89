import Foundation
import TestSupport
import Testing

/// Clients that hold connections without using them (slowloris, stalled bodies, idle keep-alives, thousands of
/// idle sockets) are cut off, and `/healthz` keeps answering.
@Suite(.serialized) struct SlowClientTests {
    private func daemon(_ http: String) throws -> ReceiverRig {
        try ReceiverRig(extraTOML: "[http]\n" + http)
    }

    @Test func aHeaderSentOneByteAtATimeIsCutOffAtTheHeaderTimeout() throws {
        let rig = try daemon("header_timeout_seconds = 1\nidle_timeout_seconds = 2")
        defer { rig.d.cleanUp() }
        let c = try RawConnection(port: rig.d.port)
        let header = Array("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + String(repeating: "a", count: 100))
        var sent = 0
        var ticks = 0
        let closedAfter = c.secondsUntilClosed(timeout: 10) {
            ticks += 1
            if ticks % 3 == 0, sent < header.count { c.send(String(header[sent])); sent += 1 }
        }
        let after = try #require(closedAfter, "a trickled header kept the connection open for 10 s")
        #expect(after < 3, "closed after \(after) s")
        #expect(try HTTPClient.get("\(rig.d.baseURL)/healthz").status == 200)
    }

    @Test func anIdleKeepAliveConnectionIsClosedAtTheIdleTimeout() throws {
        let rig = try daemon("idle_timeout_seconds = 1")
        defer { rig.d.cleanUp() }
        let c = try RawConnection(port: rig.d.port)
        c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = c.read(timeout: 5) ?? ""
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        let closedAfter = try #require(c.secondsUntilClosed(timeout: 10), "an idle keep-alive stayed open")
        #expect(closedAfter < 3)
    }

    /// A body that trickles below `min_body_bytes_per_second` is cut off and its partial file removed.
    @Test func aStalledUploadBodyIsCutOffAndLeavesNothing() throws {
        let rig = try daemon("body_timeout_seconds = 1\nmin_body_bytes_per_second = 1000")
        defer { rig.d.cleanUp() }
        let c = try RawConnection(port: rig.d.port)
        c.send("PUT /api/videos/\(UUID().uuidString)/file?title=slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(rig.uploader)\r\n"
               + "Content-Type: video/mp4\r\nContent-Length: 1000000\r\n\r\n" + String(repeating: "x", count: 2000))
        var ticks = 0
        let closedAfter = c.secondsUntilClosed(timeout: 15) {
            ticks += 1
            if ticks % 5 == 0 { c.send("xxxxx") }  // 10 bytes/s
        }
        let after = try #require(closedAfter, "a stalled body kept the connection open")
        #expect(after < 6)
        _ = try eventually(timeout: 10, "the partial upload to be removed") { rig.incomingEntries.isEmpty ? true : nil }
        #expect(try rig.rowCount() == 0)
    }

    /// Thousands of idle connections (each waiting for a head that never comes) cannot lock out real clients: at
    /// `max_connections` the oldest waiting connection makes room. Three rounds, as the crash once seen here
    /// happened in one run of three.
    @Test func thousandsOfIdleConnectionsDoNotStopHealthz() throws {
        // This process holds the idle sockets: its soft open-file limit may be 1024.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let count = min(1500, Int(limit.rlim_cur) - 200)
        try #require(count > 200, "open-file limit \(limit.rlim_cur) is too low for this test")
        let rig = try daemon("max_connections = 100\nheader_timeout_seconds = 30")
        defer { rig.d.cleanUp() }
        for round in 1...3 {
            var idle: [RawConnection] = []
            for _ in 0..<count {
                guard let c = try? RawConnection(port: rig.d.port) else { break }
                idle.append(c)
            }
            #expect(idle.count == count, "round \(round): connects refused after \(idle.count)")
            let health = try HTTPClient.get("\(rig.d.baseURL)/healthz")
            #expect(health.status == 200, "round \(round): \(health.body)")
            let status = try HTTPClient.get("\(rig.d.baseURL)/api/videos/\(UUID().uuidString)/status")
            #expect(status.status == 404, "round \(round)")
            idle.removeAll()
            #expect(rig.d.isRunning, "round \(round): the daemon died")
        }
        #expect(!rig.d.logText().contains("Fatal error"))
    }
}
