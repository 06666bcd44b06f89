import Foundation

/// Makes a hostile media corpus from a few valid files, the way a fuzzer would: flipped bytes, truncations, headers
/// spliced onto other files' bodies, zeroed and repeated runs. Deterministic for a seed, so a file that crashes the
/// daemon can be made again.
public struct MediaMutator {
    public enum Mutation: String, CaseIterable, Sendable {
        case byteFlips, truncation, splicedHeader, zeroedRun, repeatedRun, flipsInHeader
    }

    public struct Sample: Sendable {
        public let path: String
        public let mutation: Mutation
        public let source: String
    }

    private let sources: [(path: String, bytes: [UInt8])]

    /// `sources`: valid media files (a few KiB to a few hundred KiB each).
    public init(sources: [String]) throws {
        self.sources = try sources.map { ($0, [UInt8](try Data(contentsOf: URL(fileURLWithPath: $0)))) }
        precondition(!self.sources.isEmpty && self.sources.allSatisfy { $0.bytes.count > 64 }, "need valid sources")
    }

    /// Writes `count` mutants into `directory`, cycling through the mutation kinds; each keeps its source's extension.
    public func corpus(count: Int, into directory: String, using rng: inout SplitMix64) throws -> [Sample] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var samples: [Sample] = []
        for i in 0..<count {
            let mutation = Mutation.allCases[i % Mutation.allCases.count]
            let source = sources[Int.random(in: 0..<sources.count, using: &rng)]
            let bytes = mutate(source.bytes, mutation, using: &rng)
            let ext = (source.path as NSString).pathExtension
            let path = "\(directory)/hostile-\(String(format: "%04d", i))-\(mutation.rawValue).\(ext)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            samples.append(Sample(path: path, mutation: mutation, source: (source.path as NSString).lastPathComponent))
        }
        return samples
    }

    private func mutate(_ original: [UInt8], _ mutation: Mutation, using rng: inout SplitMix64) -> [UInt8] {
        var b = original
        switch mutation {
        case .byteFlips:
            for _ in 0..<Int.random(in: 1...64, using: &rng) {
                b[Int.random(in: 0..<b.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
        case .flipsInHeader:
            // Container headers (ftyp/moov boxes at the start of a faststart MP4, EBML in WebM) hold sizes and
            // counts that parsers trust: the likeliest place for a crash.
            let window = min(b.count, 4096)
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                b[Int.random(in: 0..<window, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
        case .truncation:
            b = Array(b.prefix(Int.random(in: 1..<b.count, using: &rng)))
        case .splicedHeader:
            let other = sources[Int.random(in: 0..<sources.count, using: &rng)].bytes
            let head = other.prefix(Int.random(in: 16...min(other.count, 8192), using: &rng))
            let tail = b.suffix(from: Int.random(in: 0..<b.count, using: &rng))
            b = Array(head) + Array(tail)
        case .zeroedRun:
            let start = Int.random(in: 0..<b.count, using: &rng)
            let end = min(b.count, start + Int.random(in: 1...16384, using: &rng))
            for i in start..<end { b[i] = 0 }
        case .repeatedRun:
            let start = Int.random(in: 0..<b.count, using: &rng)
            let run = b[start..<min(b.count, start + Int.random(in: 1...4096, using: &rng))]
            let at = Int.random(in: 0..<b.count, using: &rng)
            b.insert(contentsOf: Array(repeating: Array(run), count: Int.random(in: 1...8, using: &rng)).joined(), at: at)
        }
        return b
    }
}
