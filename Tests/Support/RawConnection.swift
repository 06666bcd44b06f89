import Foundation

/// A plain TCP connection to 127.0.0.1 that writes exactly the bytes a test chooses, for clients that misbehave
/// on purpose (slow headers, stalled bodies, idle keep-alives), and a listener that holds a port.
public final class RawConnection {
    public let fd: Int32

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let fd = self.fd
        guard Self.withLoopback(port, { connect(fd, $0, $1) }) == 0 else {
            let e = errno
            close(fd)
            throw HarnessError.timeout("connect to 127.0.0.1:\(port) failed: \(String(cString: strerror(e)))")
        }
    }

    deinit { close(fd) }

    /// false once the peer has closed (or reset) the connection.
    @discardableResult
    public func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Sends raw bytes (a body); false once the peer has closed (or reset) the connection.
    @discardableResult
    public func send(bytes: ArraySlice<UInt8>) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    /// Reads what arrives within `timeout`; nil when the peer closed the connection with nothing (more) to read.
    public func read(timeout: Double) -> String? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) > 0 else { return "" }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n <= 0 ? nil : String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// Seconds until the server closes the connection (reading and discarding what it sends), nil if it stays open
    /// for `timeout`; `tick` runs every 100 ms meanwhile (e.g. to trickle bytes).
    public func secondsUntilClosed(timeout: Double, tick: (() -> Void)? = nil) -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            tick?()
            if read(timeout: 0.1) == nil { return Date().timeIntervalSince(start) }
        }
        return nil
    }

    /// Calls `body` with the address 127.0.0.1:`port`.
    private static func withLoopback(_ port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// Holds `port` on 127.0.0.1 with a listening socket, as another server would.
    public static func listen(on port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard withLoopback(port, { bind(fd, $0, $1) }) == 0, Glibc.listen(fd, 16) == 0 else {
            close(fd)
            throw HarnessError.timeout("cannot hold port \(port)")
        }
        return fd
    }
}
