import Foundation

/// The sd_notify protocol without libsystemd: one datagram per message to the `AF_UNIX` socket named by
/// `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). The socket is non-blocking, so a send never
/// stalls the caller; a message the socket cannot take now is dropped, as libsystemd does.
final class SystemdNotifier: Sendable {
    private let fd: Int32
    private let address: [UInt8]

    /// Nil when `NOTIFY_SOCKET` is unset (not started by systemd) or names no usable socket address.
    init?(environment: [String: String]) {
        guard let name = environment["NOTIFY_SOCKET"], !name.isEmpty, name.hasPrefix("/") || name.hasPrefix("@") else { return nil }
        var path = Array(name.utf8)
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }
        guard path.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.fd = fd
        address = path
    }

    deinit { close(fd) }

    /// Sends `KEY=value` lines as one datagram; false when the socket refused it (no listener, full).
    @discardableResult
    func send(_ lines: String...) -> Bool {
        let message = Array(lines.joined(separator: "\n").utf8)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, byte) in address.enumerated() { raw[i] = byte }
        }
        // An abstract name is exactly its bytes long; a path also ends at its NUL.
        let length = MemoryLayout<sa_family_t>.size + address.count + (address.first == 0 ? 0 : 1)
        let sent = withUnsafePointer(to: &addr) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                sendto(fd, message, message.count, Int32(MSG_NOSIGNAL), sa, socklen_t(length))
            }
        }
        return sent == message.count
    }
}
