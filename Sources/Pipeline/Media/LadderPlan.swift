/// Which rungs a source gets: a pure decision from the source's size and the configured ladder.
///
/// Never upscaled: rungs taller than the source are dropped, and a source shorter than every rung gets one
/// rung at its own height (with the lowest rung's bit rates). With a stream-copied top rung, the copy stands
/// for every rung at or above the source's height; only the rungs below it are encoded.
struct LadderPlan: Equatable {
    /// An encoded rung's picture size and settings.
    struct Encoded: Equatable {
        var rung: LadderRung
        var width: Int
        var height: Int
        var name: String { "\(height)p" }
    }

    /// Whether the top rung is the source by stream copy.
    var copyTop: Bool
    /// Rungs to encode, tallest first.
    var encoded: [Encoded]

    /// `width` × `height`: the upright picture (after any display rotation), even-sized.
    init(sourceWidth width: Int, sourceHeight height: Int, ladder: [LadderRung], copyTop: Bool) {
        self.copyTop = copyTop
        let rungs = ladder.sorted { $0.height > $1.height }
        var kept = rungs.filter { copyTop ? $0.height < height : $0.height <= height }
        if kept.isEmpty, !copyTop, let lowest = rungs.last {
            kept = [LadderRung(height: height, videoBitRate: lowest.videoBitRate, maxRate: lowest.maxRate,
                               audioBitRate: lowest.audioBitRate)]
        }
        encoded = kept.map { rung in
            // Width follows the aspect, rounded to even (4:2:0).
            let scaled = rung.height == height ? width : Int((Double(width) * Double(rung.height) / Double(height) / 2).rounded()) * 2
            return Encoded(rung: rung, width: max(2, scaled), height: rung.height)
        }
    }

    /// The audio bit rate of the one shared AAC encode: the top rung's.
    var audioBitRate: Int { encoded.first?.rung.audioBitRate ?? 128_000 }
}
