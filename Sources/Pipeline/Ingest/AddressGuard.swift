/// The SSRF guard of URL ingest: a URL from a sidecar must not make the daemon reach its own host, the private
/// network or the cloud metadata service, unless an operator allowed that address in `[url_ingest] allow`.
/// It judges the address curl is about to connect to, so every redirect hop and every DNS answer (rebinding
/// included) passes through it.
struct AddressGuard: Sendable {
    let allow: [CIDRBlock]

    private static let forbidden: [(CIDRBlock, String)] = [
        ("0.0.0.0/8", "a \"this network\" (0.0.0.0/8) address"),
        ("10.0.0.0/8", "a private (10.0.0.0/8) address"),
        ("100.64.0.0/10", "a carrier-grade NAT (100.64.0.0/10) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local (169.254.0.0/16, cloud metadata) address"),
        ("172.16.0.0/12", "a private (172.16.0.0/12) address"),
        ("192.0.0.0/24", "an IETF protocol assignment (192.0.0.0/24) address"),
        ("192.168.0.0/16", "a private (192.168.0.0/16) address"),
        ("198.18.0.0/15", "a benchmarking (198.18.0.0/15) address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved (240.0.0.0/4) or broadcast address"),
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("fc00::/7", "a unique-local (fc00::/7) address"),
        ("fe80::/10", "a link-local (fe80::/10) address"),
        ("fec0::/10", "a site-local (fec0::/10) address"),
        ("ff00::/8", "a multicast address"),
    ].map { (CIDRBlock($0.0)!, $0.1) }

    /// Throws when an `allow` entry is neither an address nor a CIDR block.
    init(allow entries: [String]) throws(PipelineError) {
        var blocks: [CIDRBlock] = []
        for entry in entries {
            guard let block = CIDRBlock(entry) else {
                throw .invalidArgument("[url_ingest] allow entry \"\(entry)\" is not an IP address or CIDR block")
            }
            blocks.append(block)
        }
        allow = blocks
    }

    /// Nil when `address` may be reached, else why not, naming the address and the way to permit it.
    func refusal(for address: IPAddress) -> String? {
        if allow.contains(where: { $0.contains(address) }) { return nil }
        if let inner = address.embeddedIPv4 {
            if allow.contains(where: { $0.contains(inner) }) { return nil }
            if let reason = Self.category(of: inner) {
                return "\(address) (\(inner)) is \(reason) (add it to [url_ingest] allow to permit)"
            }
            return nil
        }
        guard let reason = Self.category(of: address) else { return nil }
        return "\(address) is \(reason) (add it to [url_ingest] allow to permit)"
    }

    private static func category(of address: IPAddress) -> String? {
        forbidden.first { $0.0.contains(address) }?.1
    }
}
