import Foundation

extension JSONEncoder {
    /// How every JSON answer is written: keys sorted, because Foundation's encoder on Linux otherwise emits an
    /// object's keys in hash order, which differs between identical requests; URLs unescaped (`https://…`).
    public static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
