import Foundation

/// ffprobe's view of a file or playlist (`-show_format -show_streams`, JSON), to check pipeline output
/// against an independent reader.
public struct FFprobe: Sendable {
    public struct Stream: Sendable, Decodable {
        public var codecType: String
        public var codecName: String?
        public var width: Int?
        public var height: Int?
        public var pixFmt: String?
        public var colorRange: String?
        public var sampleRate: String?
        public var channels: Int?

        enum CodingKeys: String, CodingKey {
            case codecType = "codec_type", codecName = "codec_name", width, height, pixFmt = "pix_fmt"
            case colorRange = "color_range", sampleRate = "sample_rate", channels
        }
    }

    struct Format: Decodable {
        var formatName: String
        var duration: String?
        enum CodingKeys: String, CodingKey { case formatName = "format_name", duration }
    }

    struct Document: Decodable {
        var streams: [Stream]
        var format: Format
    }

    public var streams: [Stream]
    public var formatName: String
    public var durationSeconds: Double?

    public var video: Stream? { streams.first { $0.codecType == "video" } }
    public var audio: Stream? { streams.first { $0.codecType == "audio" } }

    /// Probes `path` (a media file, an image or an .m3u8 playlist).
    public init(path: String) throws {
        let output = try ExternalTool.check(
            "ffprobe", ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", path]
        )
        let document = try JSONDecoder().decode(Document.self, from: output.stdout)
        streams = document.streams
        formatName = document.format.formatName
        durationSeconds = document.format.duration.flatMap(Double.init)
    }

    /// Decodes every frame of `path` with the ffmpeg CLI and returns what it reported at level error
    /// (empty when the file decodes cleanly).
    public static func decodeErrors(path: String) throws -> String {
        let output = try ExternalTool.run("ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-f", "null", "-"])
        return output.status == 0 ? output.stderr : "exit \(output.status): \(output.stderr)"
    }

    /// Presentation times (seconds) of the video keyframes of `path`.
    public static func keyframeTimes(path: String) throws -> [Double] {
        let output = try ExternalTool.check("ffprobe", [
            "-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries", "frame=pts_time",
            "-of", "csv=p=0", path,
        ])
        return String(decoding: output.stdout, as: UTF8.self).split(whereSeparator: \.isNewline)
            .compactMap { Double($0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: ","))) }
    }

    /// The `#EXTINF` durations of a media playlist, in order.
    public static func segmentDurations(playlist path: String) throws -> [Double] {
        try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline)
            .filter { $0.hasPrefix("#EXTINF:") }
            .compactMap { Double($0.dropFirst("#EXTINF:".count).prefix { $0 != "," }) }
    }

    /// The first frame as displayed (the CLI applies any display rotation), area-scaled to `width` × `height`,
    /// as rgb24 bytes row by row: a coarse picture to compare orientation and content.
    public static func firstFramePixels(path: String, width: Int, height: Int) throws -> [UInt8] {
        let output = try ExternalTool.check("ffmpeg", [
            "-nostdin", "-v", "error", "-i", path, "-frames:v", "1", "-vf", "scale=\(width):\(height):flags=area",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        ])
        return [UInt8](output.stdout)
    }

    /// The average colour of an image or video's first frame as (r, g, b), via a 1×1 scale.
    public static func averageColor(path: String) throws -> (r: UInt8, g: UInt8, b: UInt8) {
        let output = try ExternalTool.check("ffmpeg", [
            "-nostdin", "-v", "error", "-i", path, "-frames:v", "1", "-vf", "scale=1:1:flags=area",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        ])
        let bytes = [UInt8](output.stdout)
        guard bytes.count >= 3 else { return (0, 0, 0) }
        return (bytes[0], bytes[1], bytes[2])
    }
}
