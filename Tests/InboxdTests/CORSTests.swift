import Foundation
import TestSupport
import Testing

/// A web front end served from another origin polls the status API, follows the stream, uploads with a bearer
/// token and plays the HLS output, all through the browser's CORS checks.
@Suite(.serialized) struct CORSTests {
    static let app = "https://app.example"
    static let stranger = "https://evil.example"

    /// Response headers (lower-cased names; the last value of a repeated one) and the status of a curl request.
    static func head(_ args: [String]) throws -> (status: Int, headers: [String: String], body: String) {
        let r = try Shell.run("curl", ["-sS", "--max-time", "30", "-D", "-", "-o", "/dev/stderr"] + args)
        #expect(r.status == 0, "curl: \(r.stderr)")
        var headers: [String: String] = [:]
        var status = 0
        for line in r.stdout.split(separator: "\r\n") {
            if line.hasPrefix("HTTP/") {
                status = Int(line.split(separator: " ")[1]) ?? 0
                headers = [:]
            } else if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return (status, headers, r.stderr)
    }

    static func preflight(_ url: String, origin: String, method: String, headers: String) throws -> (status: Int, headers: [String: String], body: String) {
        try head(["-X", "OPTIONS", "-H", "Origin: \(origin)", "-H", "Access-Control-Request-Method: \(method)",
                  "-H", "Access-Control-Request-Headers: \(headers)", url])
    }

    @Test func anAllowedOriginsPreflightsForUploadsAreAnsweredAndAStrangersAreRefused() throws {
        let rig = try ReceiverRig(extraTOML: "cors_origins = [\"\(Self.app)\"]")
        defer { rig.d.cleanUp() }
        let base = rig.d.baseURL
        for (path, method) in [("/api/videos", "POST"), ("/api/videos/", "POST"), ("/api/videos/youtube", "POST"),
                               ("/api/videos/\(UUID().uuidString.lowercased())/file", "PUT"), ("/api/videos", "GET")] {
            let ok = try Self.preflight(base + path, origin: Self.app, method: method, headers: "authorization, content-type")
            #expect(ok.status == 204, "\(method) \(path): \(ok)")
            #expect(ok.headers["access-control-allow-origin"] == Self.app)
            #expect(ok.headers["access-control-allow-methods"]?.contains(method) == true)
            let allowed = ok.headers["access-control-allow-headers"]?.lowercased() ?? ""
            #expect(["authorization", "content-type", "range", "upload-offset"].allSatisfy(allowed.contains), "\(allowed)")
            #expect(Int(ok.headers["access-control-max-age"] ?? "") ?? 0 > 0)
            #expect(ok.headers["vary"] == "Origin")

            let refused = try Self.preflight(base + path, origin: Self.stranger, method: method, headers: "authorization")
            #expect(refused.status == 403, "\(method) \(path): \(refused)")
            #expect(!refused.headers.keys.contains { $0.hasPrefix("access-control-") }, "\(refused.headers)")
            let error = (try? JSONSerialization.jsonObject(with: Data(refused.body.utf8))) as? [String: Any]
            #expect(error?["error"] as? String == "cors_origin_not_allowed", "\(refused.body)")
        }
        // A plain OPTIONS (no preflight) is still the router's business: 405 naming the methods.
        let plain = try Self.head(["-X", "OPTIONS", base + "/api/videos"])
        #expect(plain.status == 405, "\(plain)")
    }

    @Test func theStatusRoutesTheStreamAndTheOutputCarryTheOriginOnlyForAnAllowedOne() throws {
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 8)
        let rig = try ReceiverRig(extraTOML: "cors_origins = [\"http://127.0.0.1:3000\", \"\(Self.app)\"]")
        defer { rig.d.cleanUp() }
        let base = rig.d.baseURL
        let id = try StatusAPITests.upload(rig, src, title: "Cross-origin")
        let ready = try rig.d.waitFor(id)
        #expect(ready["status"] as? String == "ready")
        let playlist = try #require(ready["video_url"] as? String)
        let variant = try String(contentsOfFile: rig.d.output + "/videos/\(id)/master.m3u8", encoding: .utf8)
            .split(separator: "\n").first { !$0.hasPrefix("#") && !$0.isEmpty }.map(String.init)
        let mediaPlaylist = try #require(variant)
        let mediaURL = base + "/videos/\(id)/" + mediaPlaylist
        let segmentName = try #require(try String(contentsOfFile: rig.d.output + "/videos/\(id)/" + mediaPlaylist, encoding: .utf8)
            .split(separator: "\n").first { !$0.hasPrefix("#") && !$0.isEmpty })
        let segmentURL = String(mediaURL[..<mediaURL.lastIndex(of: "/")!]) + "/" + String(segmentName)

        for url in [base + "/healthz", base + "/api/videos/\(id)/status", base + "/api/videos/\(id)/events", base + "/api/videos/\(id)",
                    base + "/api/videos/\(id)/stream", playlist, mediaURL] {
            let allowed = try Self.head(["-H", "Origin: \(Self.app)", url])
            #expect(allowed.status == 200, "\(url): \(allowed.status)")
            #expect(allowed.headers["access-control-allow-origin"] == Self.app, "\(url): \(allowed.headers)")
            #expect(allowed.headers["vary"] == "Origin", "\(url)")
            let strange = try Self.head(["-H", "Origin: \(Self.stranger)", url])
            #expect(strange.status == 200, "\(url): \(strange.status)")
            #expect(!strange.headers.keys.contains { $0.hasPrefix("access-control-") }, "\(url): \(strange.headers)")
        }
        let listed = try Self.head(["-H", "Origin: http://127.0.0.1:3000", "-H", "Authorization: Bearer \(rig.admin)", base + "/api/videos"])
        #expect(listed.status == 200 && listed.headers["access-control-allow-origin"] == "http://127.0.0.1:3000", "\(listed.headers)")
        let unauthorized = try Self.head(["-H", "Origin: \(Self.app)", base + "/api/videos"])
        #expect(unauthorized.status == 401 && unauthorized.headers["access-control-allow-origin"] == Self.app,
                "a browser must be able to read the 401: \(unauthorized.headers)")

        // A player reads a segment in ranges and must see the range headers.
        let ranged = try Self.head(["-H", "Origin: \(Self.app)", "-H", "Range: bytes=0-99", segmentURL])
        #expect(ranged.status == 206, "\(segmentURL): \(ranged.status)")
        #expect(ranged.headers["content-range"]?.hasPrefix("bytes 0-99/") == true)
        #expect(ranged.headers["access-control-allow-origin"] == Self.app)
        let exposed = ranged.headers["access-control-expose-headers"]?.lowercased() ?? ""
        #expect(["content-length", "content-range", "accept-ranges"].allSatisfy(exposed.contains), "\(exposed)")
        let preflight = try Self.preflight(segmentURL, origin: Self.app, method: "GET", headers: "range")
        #expect(preflight.status == 204 && preflight.headers["access-control-allow-headers"]?.contains("Range") == true)
    }

    @Test func withoutCorsOriginsNoAnswerCarriesCORSHeaders() throws {
        let d = try DaemonHarness()
        defer { d.cleanUp() }
        try d.start()
        let simple = try Self.head(["-H", "Origin: \(Self.app)", d.baseURL + "/healthz"])
        #expect(simple.status == 200 && !simple.headers.keys.contains { $0.hasPrefix("access-control-") }, "\(simple.headers)")
        let preflight = try Self.preflight(d.baseURL + "/api/videos", origin: Self.app, method: "POST", headers: "authorization")
        #expect(preflight.status == 405 && !preflight.headers.keys.contains { $0.hasPrefix("access-control-") }, "\(preflight)")
    }
}
