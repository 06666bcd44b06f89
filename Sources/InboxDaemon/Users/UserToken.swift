import Pipeline

/// Bearer tokens: 32 random bytes as 64 hex digits, shown to the admin once. The db stores only the SHA-256 hex
/// (`users.token_hash`), which is enough to recognise a token and useless to present one.
enum UserToken {
    static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        return Digest.hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
    }

    static func hash(_ token: String) -> String { Digest.sha256Hex(token) }
}
