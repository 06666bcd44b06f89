import Foundation
import HummingbirdWSClient
import Logging
import TestSupport
import Testing

/// The WebSocket routes with a real WebSocket client (hummingbird-websocket's) against the built daemon. The tests are
/// synchronous like the other daemon tests (the harness blocks on processes); each socket runs in its own task.
@Suite(.serialized) struct WebSocketTests {
    /// A socket being read in the background: `wait()` gives its text frames once the server closed it, `done` said
    /// enough, or the handshake failed (thrown).
    final class Socket: @unchecked Sendable {
        private let finished = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var result: Result<[String], any Error> = .success([])

        init(_ url: String, token: String? = nil, until done: @escaping @Sendable ([String]) -> Bool = { _ in false }) {
            var configuration = WebSocketClientConfiguration()
            if let token { configuration.additionalHeaders[.authorization] = "Bearer \(token)" }
            let collected = Mutex64()
            Task.detached { [self] in
                do {
                    try await WebSocketClient.connect(url: url, configuration: configuration, logger: Logger(label: "inboxd-test.ws")) {
                        inbound, _, _ in
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            if case .text(let text) = message { collected.add([text]) }
                            if done(collected.values) { return }
                        }
                    }
                    lock.withLock { result = .success(collected.values) }
                } catch {
                    lock.withLock { result = .failure(error) }
                }
                finished.signal()
            }
        }

        func wait(timeout: Double = 60) throws -> [String] {
            guard finished.wait(timeout: .now() + timeout) == .success else { throw HarnessError.timeout("socket still open after \(timeout) s") }
            return try lock.withLock { try result.get() }
        }
    }

    private func frames(_ url: String, token: String? = nil) throws -> [String] { try Socket(url, token: token).wait() }

    private static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    @Test func aVideoSocketPushesTheStreamsMessagesUntilTheJobEnds() throws {
        let media = try MediaFactory()
        let src = try media.vp9NoAudio(seconds: 4, name: "ws.webm")  // a transcode: several phases to watch
        let d = try DaemonHarness()
        try d.start()
        defer { d.cleanUp() }
        let id = UUID().uuidString.lowercased()
        try d.drop(media: src, as: "ws.webm", sidecar: ["title": "socket", "video_id": id])
        _ = try d.videoID(title: "socket")
        let live = try frames("ws://127.0.0.1:\(d.port)/api/videos/\(id)/ws").map(Self.json)
        #expect(live.allSatisfy { $0["video_id"] as? String == id }, "\(live)")
        #expect(live.last?["status"] as? String == "ready", "the socket closes once the job is ready: \(live.map { $0["phase"] ?? "?" })")
        #expect(live.dropLast().allSatisfy { $0["status"] as? String == "processing" })

        // After the end both channels send one message, byte for byte the same.
        let socket = try frames("ws://127.0.0.1:\(d.port)/api/videos/\(id)/ws")
        let sse = try Shell.run("curl", ["-sN", "--max-time", "10", "\(d.baseURL)/api/videos/\(id)/stream"])
        let data = sse.stdout.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        #expect(socket.count == 1 && socket == data, "ws \(socket) vs sse \(data)")

        // Refusals: a handshake for an unknown id fails; plain GETs answer JSON errors or 426.
        #expect(throws: (any Error).self) {
            _ = try frames("ws://127.0.0.1:\(d.port)/api/videos/\(UUID().uuidString.lowercased())/ws")
        }
        let plain = try HTTPClient.get("\(d.baseURL)/api/videos/\(id)/ws")
        #expect(plain.status == 426 && plain.json?["error"] as? String == "upgrade_required", "\(plain.body)")
        #expect(try HTTPClient.get("\(d.baseURL)/api/videos/\(UUID().uuidString)/ws").status == 404)
        #expect(try HTTPClient.get("\(d.baseURL)/api/videos/not-a-uuid!/ws").status == 400)
        #expect(try HTTPClient.get("\(d.baseURL)/healthz").status == 200, "plain HTTP still served")
    }

    @Test func theAllVideosSocketShowsTheCallersVideosOnly() throws {
        let rig = try ReceiverRig()
        let d = rig.d
        defer { d.cleanUp() }
        let media = try MediaFactory()
        let src = try media.h264AAC(seconds: 1, name: "mine.mp4")
        let mine = UUID().uuidString.lowercased(), theirs = UUID().uuidString.lowercased()
        let readyOf: @Sendable (String) -> @Sendable ([String]) -> Bool = { id in
            { $0.contains { Self.json($0)["video_id"] as? String == id && Self.json($0)["status"] as? String == "ready" } }
        }
        let url = "ws://127.0.0.1:\(d.port)/api/ws"
        let uploaderView = Socket(url, token: rig.uploader, until: readyOf(mine))
        let adminView = Socket(url, token: rig.admin) { f in readyOf(mine)(f) && readyOf(theirs)(f) }
        usleep(700_000)  // both sockets are open before the uploads
        for (id, token) in [(mine, rig.uploader), (theirs, rig.admin)] {
            let put = try CurlResult.run(["-T", src, "-H", "Content-Type: video/mp4", "\(d.baseURL)/api/videos/\(id)/file?title=t"], token: token)
            #expect(put.status == 202, "\(put.body)")
        }
        let seenByUploader = try uploaderView.wait().map(Self.json)
        let seenByAdmin = try adminView.wait().map(Self.json)
        #expect(Set(seenByUploader.compactMap { $0["video_id"] as? String }) == [mine], "\(seenByUploader)")
        #expect(Set(seenByAdmin.compactMap { $0["video_id"] as? String }) == [mine, theirs])
        #expect(seenByUploader.allSatisfy { ["processing", "ready"].contains($0["status"] as? String ?? "") }, "\(seenByUploader)")

        #expect(throws: (any Error).self) { _ = try frames(url) }
        let anonymous = try HTTPClient.get("\(d.baseURL)/api/ws")
        #expect(anonymous.status == 401, "\(anonymous.body)")
        let plain = try HTTPClient.get("\(d.baseURL)/api/ws", headers: ["Authorization: Bearer \(rig.viewer)"])
        #expect(plain.status == 426, "\(plain.body)")
    }
}
