/// Bit rates in the config are strings with a unit, as the ffmpeg CLI writes them: "800k", "2.8M" (1k = 1000 bits/s).
/// A bare number is refused, so "5000" (bits? kbits?) is never guessed.
enum BitRate {
    static func parse(_ text: String) -> Int? {
        let multiplier: Double
        switch text.last {
        case "k", "K": multiplier = 1_000
        case "M": multiplier = 1_000_000
        default: return nil
        }
        guard let value = Double(text.dropLast()), value.isFinite, value > 0 else { return nil }
        let bits = (value * multiplier).rounded()
        guard bits >= 1_000, bits <= 1_000_000_000 else { return nil }
        return Int(bits)
    }
}
