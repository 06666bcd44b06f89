import Foundation

/// A real webhook receiver on 127.0.0.1 (`fixtures/webhook_receiver.py`) that checks every signature as the README
/// tells receivers to, can fail the first N deliveries to a path (`/fail/N/name`) or stay closed while a gate file
/// exists (`/gated/name`), and logs every POST. It runs apart from the daemon, so it outlives daemon restarts.
public final class WebhookReceiver: @unchecked Sendable {
    public let port: Int
    public let logPath: String
    public let gates: String
    private let process: Process
    private let stdin: Pipe
    private let dir: TempDir

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// One POST as the receiver saw it.
    public struct Receipt {
        public let path: String
        public let status: Int
        /// The signature matched one of the secrets, with a fresh timestamp.
        public let valid: Bool
        /// Index of the matching secret (-1: none).
        public let secret: Int
        public let event: String
        public let eventID: String
        public let deliveryID: String
        public let contentType: String
        public let body: [String: Any]

        public var delivered: Bool { (200..<300).contains(status) }
        public var data: [String: Any] { body["data"] as? [String: Any] ?? [:] }
    }

    public init(secrets: [String]) throws {
        dir = try TempDir("inboxd-webhooks")
        logPath = dir.path + "/receipts.jsonl"
        gates = dir.path + "/gates"
        try FileManager.default.createDirectory(atPath: gates, withIntermediateDirectories: true)
        (process, stdin, port) = try PythonFixture.launch("webhook_receiver.py", [logPath, gates] + secrets)
    }

    /// Closes `/gated/name` (answers 503) and holds `/hang/name` (no answer) until `open(name)`.
    public func close(_ name: String) { FileManager.default.createFile(atPath: gates + "/" + name, contents: nil) }
    public func open(_ name: String) { try? FileManager.default.removeItem(atPath: gates + "/" + name) }

    /// Every POST so far, in arrival order.
    public func receipts() -> [Receipt] {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let j = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { return nil }
            return Receipt(path: j["path"] as? String ?? "", status: j["status"] as? Int ?? 0, valid: j["valid"] as? Bool ?? false,
                           secret: j["secret"] as? Int ?? -1, event: j["event"] as? String ?? "",
                           eventID: j["event_id"] as? String ?? "", deliveryID: j["delivery_id"] as? String ?? "",
                           contentType: j["content_type"] as? String ?? "", body: j["body"] as? [String: Any] ?? [:])
        }
    }

    deinit {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        dir.remove()
    }
}
