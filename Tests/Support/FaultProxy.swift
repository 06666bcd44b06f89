import Foundation

/// A small HTTP/1.1 forwarding proxy on 127.0.0.1 that sits between inboxd and S3 and injects the faults production
/// brings: 503 and `SlowDown` bursts, connections reset mid-body, stalled answers, a full outage, and 403.
///
/// One request per connection: each accepted connection is served by its own thread, which reads the request head,
/// decides on a fault, and otherwise forwards head and body to the upstream with `Connection: close` and relays the
/// answer byte for byte until the upstream closes. The Host header is left as the client sent it, so SigV4
/// signatures (which cover it) still verify upstream. Faults are switched at runtime, for the next N requests or
/// for a time window; without one the proxy passes everything through, after an optional latency. Its threads keep
/// it alive until `stop()`.
public final class FaultProxy: @unchecked Sendable {
    public enum Fault: String, Sendable, CaseIterable, CustomStringConvertible {
        /// 503 with an S3 `ServiceUnavailable` error body.
        case serviceUnavailable
        /// 503 with an S3 `SlowDown` error body.
        case slowDown
        /// 403 `AccessDenied`: a permanent refusal.
        case forbidden
        /// Reads part of the request body, then resets the connection (RST, SO_LINGER 0).
        case resetMidBody
        /// Reads the request and never answers while the window lasts, then resets.
        case stall
        /// Resets every connection as soon as it is accepted.
        case outage

        public var description: String { rawValue }
    }

    public let port: Int
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    private let upstreamPort: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var rules: [Rule] = []
    private var counts: [Fault: Int] = [:]
    private var forwardedCount = 0
    private var stopped = false
    private var latencySeconds = 0.0

    private struct Rule {
        let fault: Fault
        var remaining: Int?
        let until: Date?
    }

    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (`http://127.0.0.1:PORT`, loopback only).
    public init(upstream: String) throws {
        guard let url = URLComponents(string: upstream), url.scheme == "http", let upPort = url.port,
              ["127.0.0.1", "localhost"].contains(url.host ?? "")
        else { throw ProxyError("the fault proxy forwards only to http://127.0.0.1:PORT, not \(upstream)") }
        upstreamPort = UInt16(upPort)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProxyError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = Self.loopback(port: 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0 && listen(fd, 128) == 0
            }
        }
        guard ok else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ProxyError("cannot listen on 127.0.0.1: \(reason)")
        }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "fault-proxy-accept"
        thread.start()
    }

    // MARK: switching faults

    /// The next `count` requests get `fault` (after any earlier rules are used up).
    public func inject(_ fault: Fault, next count: Int) {
        lock.withLock { rules.append(Rule(fault: fault, remaining: count, until: nil)) }
    }

    /// Every request in the next `seconds` gets `fault`.
    public func inject(_ fault: Fault, for seconds: Double) {
        lock.withLock { rules.append(Rule(fault: fault, remaining: nil, until: Date().addingTimeInterval(seconds))) }
    }

    /// A slow S3: every forwarded request waits this long before it is sent on (0 by default).
    public func setLatency(_ seconds: Double) { lock.withLock { latencySeconds = seconds } }

    /// Drops every pending fault: from now on everything passes through.
    public func passThrough() { lock.withLock { rules.removeAll() } }

    /// How many requests (or, for `outage`, connections) got `fault` so far.
    public func injected(_ fault: Fault) -> Int { lock.withLock { counts[fault, default: 0] } }

    /// Requests forwarded to the upstream unharmed.
    public var forwarded: Int { lock.withLock { forwardedCount } }

    /// True while a count or window is still pending.
    public var hasPendingFaults: Bool {
        lock.withLock {
            prune()
            return !rules.isEmpty
        }
    }

    public func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func prune() {
        let now = Date()
        rules.removeAll { rule in (rule.remaining.map { $0 <= 0 } ?? false) || (rule.until.map { $0 <= now } ?? false) }
    }

    /// The fault for the next request (consuming one of a counted rule), or nil to forward it.
    private func nextFault(atAccept: Bool) -> (Fault, until: Date?)? {
        lock.withLock {
            prune()
            guard let i = rules.firstIndex(where: { ($0.fault == .outage) == atAccept }) else { return nil }
            if let left = rules[i].remaining { rules[i].remaining = left - 1 }
            counts[rules[i].fault, default: 0] += 1
            return (rules[i].fault, rules[i].until)
        }
    }

    // MARK: serving

    private func acceptLoop() {
        while !isStopped {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            let thread = Thread { [self] in serve(fd) }
            thread.name = "fault-proxy-connection"
            thread.start()
        }
    }

    private func serve(_ client: Int32) {
        if nextFault(atAccept: true) != nil { return Self.reset(client) }
        guard let request = readHead(client) else { return Self.reset(client) }
        guard let (fault, until) = nextFault(atAccept: false) else { return forward(request, client) }
        switch fault {
        case .serviceUnavailable:
            answer(client, request, status: "503 Service Unavailable", code: "ServiceUnavailable", message: "Service is unavailable. Try again.")
        case .slowDown:
            answer(client, request, status: "503 Slow Down", code: "SlowDown", message: "Please reduce your request rate.")
        case .forbidden:
            answer(client, request, status: "403 Forbidden", code: "AccessDenied", message: "Access Denied")
        case .resetMidBody:
            // Half of the body (at least a byte), as a connection dropped by a load balancer mid-upload would.
            let want = max(1, (request.contentLength ?? 2) / 2)
            var have = request.bodyStart.count
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            let deadline = Date().addingTimeInterval(2)
            while have < want, Date() < deadline, Self.waitReadable(client, timeoutMs: 100) {
                let n = recv(client, &buffer, min(buffer.count, want - have), 0)
                if n <= 0 { break }
                have += n
            }
            Self.reset(client)
        case .stall:
            let end = until ?? Date().addingTimeInterval(30)
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while Date() < end, !isStopped {
                if Self.waitReadable(client, timeoutMs: 100), recv(client, &buffer, buffer.count, 0) <= 0 { break }
            }
            Self.reset(client)
        case .outage:
            Self.reset(client)
        }
    }

    private struct RequestHead {
        var head: String
        /// Body bytes that arrived with the head.
        var bodyStart: [UInt8]
        var contentLength: Int?
        var expectsContinue: Bool
    }

    private func readHead(_ fd: Int32) -> RequestHead? {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let terminator: [UInt8] = [13, 10, 13, 10]
        while data.count < 64 * 1024 {
            guard Self.waitReadable(fd, timeoutMs: 30_000) else { return nil }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return nil }
            data += buffer[0..<n]
            guard let end = Self.find(terminator, in: data) else { continue }
            let head = String(decoding: data[0..<end], as: UTF8.self)
            var length: Int?
            var expects = false
            for line in head.split(separator: "\r\n").dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if name == "content-length" { length = Int(value) }
                if name == "expect", value.lowercased() == "100-continue" { expects = true }
            }
            return RequestHead(head: head, bodyStart: Array(data[(end + 4)...]), contentLength: length, expectsContinue: expects)
        }
        return nil
    }

    /// An S3 error document; the body is drained first (unless the client waits for `100 Continue`) so the client
    /// reads the answer instead of a broken pipe.
    private func answer(_ client: Int32, _ request: RequestHead, status: String, code: String, message: String) {
        if !request.expectsContinue, let length = request.contentLength {
            var left = length - request.bodyStart.count
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while left > 0, Self.waitReadable(client, timeoutMs: 5_000) {
                let n = recv(client, &buffer, min(buffer.count, left), 0)
                if n <= 0 { break }
                left -= n
            }
        }
        let body = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>\(code)</Code><Message>\(message)</Message><RequestId>fault-proxy</RequestId></Error>
            """
        let isHead = request.head.hasPrefix("HEAD ")
        let text = "HTTP/1.1 \(status)\r\nContent-Type: application/xml\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + (isHead ? "" : body)
        _ = Self.sendAll(client, Array(text.utf8))
        shutdown(client, Int32(SHUT_WR))
        close(client)
    }

    private func forward(_ request: RequestHead, _ client: Int32) {
        defer { close(client) }
        let latency = lock.withLock { latencySeconds }
        if latency > 0 { Thread.sleep(forTimeInterval: latency) }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard upstream >= 0 else { return }
        defer { close(upstream) }
        var addr = Self.loopback(port: upstreamPort)
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return }
        lock.withLock { forwardedCount += 1 }
        // Host and every signed header stay as they are; only the connection is made one-shot.
        var lines = request.head.components(separatedBy: "\r\n").filter {
            let name = $0.split(separator: ":", maxSplits: 1).first?.lowercased() ?? ""
            return name != "connection" && name != "keep-alive" && name != "proxy-connection"
        }
        lines.append("Connection: close")
        let head = Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
        guard Self.sendAll(upstream, head + request.bodyStart) else { return }

        var fds = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: upstream, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var clientOpen = true
        while !isStopped {
            fds[0].events = clientOpen ? Int16(POLLIN) : 0
            let ready = poll(&fds, 2, 1000)
            if ready < 0, errno != EINTR { return }
            if ready <= 0 { continue }
            if fds[1].revents != 0 {
                let n = recv(upstream, &buffer, buffer.count, 0)
                if n <= 0 { return }  // the answer is complete (Connection: close) or the upstream failed
                guard Self.sendAll(client, Array(buffer[0..<n])) else { return }
            }
            if clientOpen, fds[0].revents != 0 {
                let n = recv(client, &buffer, buffer.count, 0)
                if n <= 0 {
                    clientOpen = false
                    shutdown(upstream, Int32(SHUT_WR))
                } else if !Self.sendAll(upstream, Array(buffer[0..<n])) {
                    return
                }
            }
        }
    }

    // MARK: sockets

    private static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    /// Closes with SO_LINGER 0, so the peer sees a reset (ECONNRESET), not an orderly close.
    private static func reset(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    private static func waitReadable(_ fd: Int32, timeoutMs: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let r = poll(&p, 1, timeoutMs)
            if r < 0, errno == EINTR { continue }
            return r > 0
        }
    }

    /// MSG_NOSIGNAL: a peer that went away is an error here, never a SIGPIPE for the test process.
    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        }
        return nil
    }

    public struct ProxyError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
