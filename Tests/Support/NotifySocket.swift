import Foundation

/// What systemd would hear: an `AF_UNIX` datagram socket (a path, or an abstract `@name`) to pass as `NOTIFY_SOCKET`,
/// read by a thread that keeps every message with its arrival time. `onMessage` runs on that thread as a message
/// arrives, before the next is read (a test can freeze the sender there to look at the world at that instant).
public final class NotifySocket: @unchecked Sendable {
    public struct Message: Sendable {
        public let text: String
        public let at: Date
        public var lines: [String] { text.split(separator: "\n").map(String.init) }
    }

    /// The value for `NOTIFY_SOCKET`.
    public let name: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [Message] = []
    private var stopped = false
    private let onMessage: (@Sendable (Message) -> Void)?

    public init(abstract: Bool = false, onMessage: (@Sendable (Message) -> Void)? = nil) throws {
        let id = UUID().uuidString.prefix(8)
        name = abstract ? "@inboxd-test-notify-\(id)" : NSTemporaryDirectory() + "inboxd-notify-\(id).sock"
        self.onMessage = onMessage
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw NotifySocketError.bind(String(cString: strerror(errno))) }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let thread = Thread { [self] in readLoop() }
        thread.start()
    }

    deinit {
        close(fd)
        if !name.hasPrefix("@") { unlink(name) }
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !lock.withLock({ stopped }) {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { continue }
            let message = Message(text: String(decoding: buffer[0..<n], as: UTF8.self), at: Date())
            onMessage?(message)
            lock.withLock { received.append(message) }
        }
    }

    public func stop() { lock.withLock { stopped = true } }

    public var messages: [Message] { lock.withLock { received } }

    /// Messages with a line equal to `line` (e.g. "READY=1"), or starting with it when it ends in "=" ("STATUS=").
    public func messages(with line: String) -> [Message] {
        messages.filter { $0.lines.contains { line.hasSuffix("=") ? $0.hasPrefix(line) : $0 == line } }
    }

    /// Waits until a message has `line`; returns the first such.
    public func wait(for line: String, timeout: Double = 30) throws -> Message {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let m = messages(with: line).first { return m }
            usleep(20_000)
        }
        throw NotifySocketError.timeout("no \(line) within \(timeout) s; got \(messages.map(\.text))")
    }
}

public enum NotifySocketError: Error, CustomStringConvertible {
    case bind(String)
    case timeout(String)

    public var description: String {
        switch self {
        case .bind(let reason): "cannot bind the notify socket: \(reason)"
        case .timeout(let message): message
        }
    }
}
