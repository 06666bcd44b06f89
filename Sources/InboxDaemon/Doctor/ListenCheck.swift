import Foundation

/// The listen address: free to bind, or already served by an inboxd (`/healthz` answers 200 with `Server: inboxd`,
/// the name `HTTPServer` gives itself). Anything else holding the port would make `inboxd run` fail at start.
enum ListenCheck {
    static func finding(_ address: ListenAddress) -> Finding {
        let what = "listen \(address)"
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(address.host, String(address.port), &hints, &list) == 0, let info = list else {
            return .fail(what, "cannot resolve host \(address.host)", fix: "set `listen` to an address of this machine, e.g. 127.0.0.1:8080")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { return .fail(what, "socket: \(String(cString: strerror(errno)))", fix: "check the process limits") }
        defer { close(fd) }
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return .ok("\(what) (free)") }
        let error = errno
        switch error {
        case EADDRINUSE:
            if servedByInboxd(info.pointee) { return .ok("\(what) (served by a running inboxd, /healthz ok)") }
            return .fail(what, "in use by another program", fix: "stop that program (ss -ltnp 'sport = :\(address.port)') or change `listen`")
        case EACCES:
            return .fail(what, "permission denied", fix: "use a port ≥ 1024, or grant CAP_NET_BIND_SERVICE to the service")
        default:
            return .fail(what, String(cString: strerror(error)), fix: "set `listen` to an address of this machine")
        }
    }

    /// `GET /healthz` over a plain socket with a 3 s timeout: status 200 and `Server: inboxd`.
    private static func servedByInboxd(_ info: addrinfo) -> Bool {
        let fd = socket(info.ai_family, info.ai_socktype, info.ai_protocol)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, info.ai_addr, info.ai_addrlen) == 0 else { return false }
        let request = Array("GET /healthz HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return false }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while answer.count < 65536 {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        let head = String(decoding: answer, as: UTF8.self).components(separatedBy: "\r\n\r\n").first ?? ""
        let lines = head.components(separatedBy: "\r\n")
        return lines.first?.split(separator: " ").dropFirst().first == "200"
            && lines.contains { $0.lowercased().hasPrefix("server:") && $0.lowercased().contains("inboxd") }
    }
}
