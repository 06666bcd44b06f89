import Foundation

/// SplitMix64: a tiny, fully deterministic generator, so a fault schedule or a mutated corpus made from one seed is
/// the same on every machine and every run (`SystemRandomNumberGenerator` would make a failure unreplayable).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed and size of the fault-injection suite. `INBOXD_FAULT_SEED` (decimal or 0x-hex) replays a run;
/// `INBOXD_SOAK=1` (`make soak`) runs the longer variants.
public enum FaultRun {
    public static let defaultSeed: UInt64 = 0x1B0C_D5EE_D007

    public static var seed: UInt64 {
        guard let text = ProcessInfo.processInfo.environment["INBOXD_FAULT_SEED"]?.trimmingCharacters(in: .whitespaces),
              !text.isEmpty
        else { return defaultSeed }
        let parsed = text.lowercased().hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        guard let parsed else { fatalError("INBOXD_FAULT_SEED=\(text) is not a decimal or 0x-hex 64-bit number") }
        return parsed
    }

    public static var isSoak: Bool { ProcessInfo.processInfo.environment["INBOXD_SOAK"] == "1" }

    /// `normal` in `make test`, `soak` under `make soak`.
    public static func scale<T>(_ normal: T, soak: T) -> T { isSoak ? soak : normal }

    /// A generator for one scenario, printed so a failure names the seed that replays it.
    public static func generator(for scenario: String) -> SplitMix64 {
        let s = seed
        print("[fault-injection] \(scenario): seed \(s) (0x\(String(s, radix: 16))); replay with INBOXD_FAULT_SEED=\(s)\(isSoak ? " INBOXD_SOAK=1" : "")")
        // Each scenario draws from its own stream, so adding draws to one never changes another.
        var mix = SplitMix64(seed: s ^ scenario.utf8.reduce(UInt64(0xCBF2_9CE4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 })
        return SplitMix64(seed: mix.next())
    }
}
