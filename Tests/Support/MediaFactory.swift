import Foundation

/// Generates small test media with the ffmpeg CLI (lavfi test sources) in a temporary directory of its own,
/// removed when the factory goes away. Every method returns the file's path.
public final class MediaFactory: Sendable {
    public let directory: String

    public init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("inboxd-media-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        directory = url.path
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// A fresh path inside the factory's directory (nothing is created).
    public func path(_ name: String) -> String { "\(directory)/\(name)" }

    /// H.264 (yuv420p, x264 ultrafast, keyframe every `gopSeconds`) + AAC 44.1 kHz mono in MP4 (moov at the end).
    public func h264AAC(
        seconds: Double = 10, width: Int = 320, height: Int = 240, gopSeconds: Double = 2, name: String = "h264-aac.mp4"
    ) throws -> String {
        let out = path(name)
        try ffmpeg(
            video(seconds: seconds, width: width, height: height) + audio(seconds: seconds)
                + h264(gopSeconds: gopSeconds) + ["-c:a", "aac", "-b:a", "64k", "-shortest", out]
        )
        return out
    }

    /// H.264 only, no audio stream.
    public func h264NoAudio(
        seconds: Double = 10, width: Int = 320, height: Int = 240, gopSeconds: Double = 2, name: String = "h264-noaudio.mp4"
    ) throws -> String {
        let out = path(name)
        try ffmpeg(video(seconds: seconds, width: width, height: height) + h264(gopSeconds: gopSeconds) + [out])
        return out
    }

    /// VP9 + Opus (48 kHz stereo) in WebM.
    public func vp9Opus(seconds: Double = 10, width: Int = 320, height: Int = 240, name: String = "vp9-opus.webm") throws -> String {
        let out = path(name)
        try ffmpeg(
            video(seconds: seconds, width: width, height: height) + audio(seconds: seconds, channels: 2, rate: 48000)
                + ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-g", "50",
                   "-c:a", "libopus", "-b:a", "48k", "-shortest", out]
        )
        return out
    }

    /// MPEG-4 Part 2 + AAC (48 kHz stereo) in Matroska, as the ffmpeg CLI writes it: the video starts 21 ms after
    /// the audio (the AAC encoder's priming), as in many real files; transcoded, never copied.
    public func mpeg4AAC(seconds: Double = 10, width: Int = 320, height: Int = 240, name: String = "mpeg4-aac.mkv") throws -> String {
        let out = path(name)
        try ffmpeg(
            video(seconds: seconds, width: width, height: height) + audio(seconds: seconds, channels: 2, rate: 48000)
                + ["-c:v", "mpeg4", "-q:v", "4", "-g", "50", "-c:a", "aac", "-b:a", "64k", "-shortest", out]
        )
        return out
    }

    /// VP9 only, no audio stream, in WebM (odd sizes are allowed).
    public func vp9NoAudio(seconds: Double = 4, width: Int = 321, height: Int = 241, name: String = "vp9.webm") throws -> String {
        let out = path(name)
        try ffmpeg(
            video(seconds: seconds, width: width, height: height)
                + ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", out]
        )
        return out
    }

    /// H.264/AAC whose frames are landscape but whose display matrix turns them by `degrees` clockwise, as phones
    /// record portrait video.
    public func rotated(degrees: Int, seconds: Double = 3, name: String? = nil) throws -> String {
        let source = try h264AAC(seconds: seconds, name: "unrotated-\(degrees).mp4")
        let out = path(name ?? "rotated-\(degrees).mp4")
        try ffmpeg(["-i", source, "-c", "copy", "-metadata:s:v:0", "rotate=\(degrees)", out])
        return out
    }

    /// H.264 in 10-bit 4:2:0 (High 10) + AAC: H.264, yet not safe to stream-copy for browsers.
    public func h264High10(seconds: Double = 4, name: String = "h264-10bit.mp4") throws -> String {
        let out = path(name)
        try ffmpeg(
            video(seconds: seconds, width: 320, height: 240) + audio(seconds: seconds)
                + ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-c:a", "aac", "-shortest", out]
        )
        return out
    }

    /// AAC audio only, in an MP4 container.
    public func audioOnly(seconds: Double = 3, name: String = "audio-only.m4a") throws -> String {
        let out = path(name)
        try ffmpeg(audio(seconds: seconds) + ["-c:a", "aac", out])
        return out
    }

    /// A still PNG image (e.g. a sidecar-supplied thumbnail).
    public func png(width: Int = 800, height: Int = 600, name: String = "still.png") throws -> String {
        let out = path(name)
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=\(width)x\(height):rate=1", "-frames:v", "1", out])
        return out
    }

    /// H.264 that is solid red for the first `redSeconds`, then solid blue: tells which frame a thumbnail shows.
    public func redThenBlue(seconds: Double = 10, redSeconds: Double = 0.5, name: String = "red-blue.mp4") throws -> String {
        let out = path(name)
        let filter = "color=c=red:s=320x240:r=25:d=\(redSeconds)[a];color=c=blue:s=320x240:r=25:d=\(seconds - redSeconds)[b];"
            + "[a][b]concat=n=2:v=1:a=0[v]"
        try ffmpeg(["-filter_complex", filter, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-g", "250", out])
        return out
    }

    /// An MP4 whose `moov` box (at the end) was cut off: what an interrupted upload looks like.
    public func truncated(name: String = "truncated.mp4") throws -> String {
        let whole = try h264AAC(seconds: 4, name: "whole-\(name)")
        let data = try Data(contentsOf: URL(fileURLWithPath: whole))
        let out = path(name)
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: out))
        return out
    }

    public func zeroByte(name: String = "empty.mp4") throws -> String {
        let out = path(name)
        try Data().write(to: URL(fileURLWithPath: out))
        return out
    }

    /// 64 KiB of deterministic pseudo-random bytes under a media-like name.
    public func randomBytes(named name: String = "random.mp4", count: Int = 64 * 1024) throws -> String {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var bytes = [UInt8]()
        bytes.reserveCapacity(count)
        for _ in 0..<count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            bytes.append(UInt8(truncatingIfNeeded: state))
        }
        let out = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: out))
        return out
    }

    /// An empty directory under a media-like name.
    public func directoryNamed(_ name: String = "folder.mp4") throws -> String {
        let out = path(name)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        return out
    }

    private func video(seconds: Double, width: Int, height: Int) -> [String] {
        ["-f", "lavfi", "-i", "testsrc2=size=\(width)x\(height):rate=25:duration=\(seconds)"]
    }

    private func audio(seconds: Double, channels: Int = 1, rate: Int = 44100) -> [String] {
        ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=\(rate):duration=\(seconds)", "-ac", "\(channels)"]
    }

    private func h264(gopSeconds: Double) -> [String] {
        let gop = max(1, Int((gopSeconds * 25).rounded()))
        return ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "\(gop)",
                "-keyint_min", "\(gop)", "-sc_threshold", "0"]
    }

    private func ffmpeg(_ arguments: [String]) throws {
        try ExternalTool.check("ffmpeg", ["-nostdin", "-y", "-v", "error"] + arguments)
    }
}

extension MediaFactory {
    /// A stream copy of `input` into another container or layout, e.g. `["-movflags", "+faststart"]` or a `.ts` name.
    public func remux(_ input: String, name: String, arguments: [String] = []) throws -> String {
        let out = path(name)
        try ExternalTool.check("ffmpeg", ["-nostdin", "-y", "-v", "error", "-i", input, "-map", "0", "-c", "copy"] + arguments + [out])
        return out
    }
}
