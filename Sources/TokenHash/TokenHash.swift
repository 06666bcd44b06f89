import Crypto

/// Bearer tokens: 32 random bytes as 64 hex digits, shown to the admin once. The db stores only the SHA-256 hex
/// (`users.token_hash`), which is enough to recognise a token and useless to present one. A module of its own so
/// the HTTP layer can check tokens without linking the media pipeline.
public enum TokenHash {
    public static func newToken() -> String {
        var rng = SystemRandomNumberGenerator()
        return hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
    }

    /// The SHA-256 hex of a token, as `users.token_hash` holds it.
    public static func hash(_ token: String) -> String { hex(Array(SHA256.hash(data: Array(token.utf8)))) }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }, as: UTF8.self)
    }
}
