import Foundation

/// `master.m3u8`: one `#EXT-X-STREAM-INF` per rung, tallest (highest BANDWIDTH) first, written atomically.
///
/// Written twice: as soon as every rung has its first segment (a player can start while the rest converts),
/// and at the end with the rates measured over all segments.
struct MasterPlaylist {
    struct Variant: Equatable {
        var name: String
        var width: Int
        var height: Int
        /// Peak bits/s (BANDWIDTH).
        var bandwidth: Int
        /// Average bits/s (AVERAGE-BANDWIDTH).
        var averageBandwidth: Int
        /// RFC 6381 codecs, e.g. `avc1.64001f,mp4a.40.2`.
        var codecs: String
        var frameRate: Double?
    }

    var variants: [Variant]
    var format: SegmentFormat

    var text: String {
        var lines = ["#EXTM3U", "#EXT-X-VERSION:\(format == .fmp4 ? 7 : 6)", "#EXT-X-INDEPENDENT-SEGMENTS"]
        for v in variants.sorted(by: { ($0.bandwidth, $0.height) > ($1.bandwidth, $1.height) }) {
            var attributes = [
                "BANDWIDTH=\(v.bandwidth)", "AVERAGE-BANDWIDTH=\(v.averageBandwidth)",
                "RESOLUTION=\(v.width)x\(v.height)", "CODECS=\"\(v.codecs)\"",
            ]
            if let fps = v.frameRate, fps.isFinite, fps > 0 { attributes.append(String(format: "FRAME-RATE=%.3f", fps)) }
            lines.append("#EXT-X-STREAM-INF:" + attributes.joined(separator: ","))
            lines.append("\(v.name)/index.m3u8")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func write(to directory: String) throws(PipelineError) {
        try AtomicFile.write(text, to: "\(directory)/master.m3u8")
    }
}

/// Bit rates measured from a rendition's playlist and segment files: what a player really has to download.
struct SegmentRates: Equatable {
    /// Max over segments of bytes × 8 / duration.
    var peak: Int
    /// All segment bytes × 8 / total duration.
    var average: Int
    var segments: Int
    /// Total duration of the segments listed.
    var seconds: Double

    /// Reads `<directory>/index.m3u8` (finished or still growing); nil before its first segment is listed.
    init?(renditionDirectory directory: String) {
        guard let playlist = try? String(contentsOfFile: "\(directory)/index.m3u8", encoding: .utf8) else { return nil }
        var duration: Double?
        var peak = 0.0, bytes = 0.0, seconds = 0.0, count = 0
        for line in playlist.split(separator: "\n") {
            if line.hasPrefix("#EXTINF:") {
                duration = Double(line.dropFirst(8).prefix { $0 != "," })
            } else if !line.hasPrefix("#"), let d = duration {
                duration = nil
                let size = (try? FileManager.default.attributesOfItem(atPath: "\(directory)/\(line)")[.size] as? Int) ?? 0
                // A segment too short to time (the last frame alone) would claim an absurd peak rate.
                if d >= 0.5 { peak = max(peak, Double(size) * 8 / d) }
                bytes += Double(size)
                seconds += d
                count += 1
            }
        }
        guard count > 0, seconds > 0 else { return nil }
        let average = bytes * 8 / seconds
        self.peak = Int(max(peak, average).rounded(.up))
        self.average = Int(average.rounded(.up))
        segments = count
        self.seconds = seconds
    }
}

/// RFC 6381 codec names for CODECS.
enum CodecString {
    /// `avc1.PPCCLL` from the SPS in `extradata` (avcC or Annex B), else from the profile and level fields.
    static func avc1(extradata: [UInt8], profile: Int32, level: Int32) -> String {
        var spsFields: ArraySlice<UInt8>?
        if extradata.count >= 4, extradata[0] == 1 {
            spsFields = extradata[1...3]  // avcC: version, then profile, compatibility, level
        } else {
            var i = 0
            while i + 6 < extradata.count {
                if extradata[i] == 0, extradata[i + 1] == 0, extradata[i + 2] == 1, extradata[i + 3] & 0x1F == 7 {
                    spsFields = extradata[(i + 4)...(i + 6)]
                    break
                }
                i += 1
            }
        }
        let bytes = spsFields.map(Array.init) ?? [UInt8(clamping: profile), 0, UInt8(clamping: level)]
        return "avc1." + bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// `mp4a.40.<audio object type>`: AAC-LC is 2, HE-AAC 5, HE-AAC v2 29 (libav's profile + 1).
    static func mp4a(profile: Int32) -> String { "mp4a.40.\(profile >= 0 ? profile + 1 : 2)" }
}
