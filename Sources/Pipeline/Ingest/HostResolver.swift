import Foundation

/// getaddrinfo for the SSRF pre-check before yt-dlp runs (yt-dlp makes its own connections, which the connect-time
/// guard in libcurl does not see).
enum HostResolver {
    static func addresses(of host: String) -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var found: [IPAddress] = []
        var node = list
        while let info = node?.pointee {
            if let sa = info.ai_addr {
                switch info.ai_family {
                case AF_INET:
                    let sin = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in.self)
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: sin.sin_addr) { Array($0) }) { found.append(ip) }
                case AF_INET6:
                    let sin6 = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in6.self)
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }) { found.append(ip) }
                default:
                    break
                }
            }
            node = info.ai_next
        }
        return found
    }
}
