import Foundation
import TestSupport
import Testing

/// A daemon with 2 s segments and one ready video made from an 854x480 H.264/AAC clip (with the default ladder:
/// a 480p and a 360p rung), for the playback suites.
struct PlaybackRig {
    static let title = #"Clip <img src=x onerror="window.pwned=1"> & "friends""#
    static let fps = 25.0

    let d: DaemonHarness
    let id: String
    let status: [String: Any]
    let seconds: Double

    var page: String { "\(d.baseURL)/videos/\(id)" }
    var published: String { d.output + "/videos/\(id)" }

    /// `whileQueued`: the clip waits behind a 12 s MPEG-4 Part 2 transcode on the only worker, and this runs with
    /// its id while it is still processing (then the rig waits until it is ready).
    init(seconds: Double = 8, options: DaemonHarness.Options = .init(), whileQueued: ((DaemonHarness, String) throws -> Void)? = nil) throws {
        var options = options
        options.extraTOML = "segment_seconds = 2\n" + options.extraTOML
        options.shutdownGraceSeconds = 1
        options.settleSeconds = 0.2
        if whileQueued != nil { options.workers = 1 }
        let media = try MediaFactory()
        let clip = try media.h264AAC(seconds: seconds, width: 854, height: 480)
        d = try DaemonHarness(options)
        self.seconds = seconds
        do {
            try d.start()
            if whileQueued != nil {
                let blocker = media.path("blocker.avi")
                try ExternalTool.check("ffmpeg", ["-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=854x480:rate=25:duration=12",
                                                  "-c:v", "mpeg4", "-q:v", "5", blocker])
                try d.drop(media: blocker, as: "blocker.avi", sidecar: ["title": "blocker"])
                _ = try d.videoID(title: "blocker")
            }
            try d.drop(media: clip, as: "clip.mp4", sidecar: ["title": Self.title, "visibility": "published"])
            id = try d.videoID(title: Self.title)
            try whileQueued?(d, id)
            status = try d.waitFor(id)
            guard status["status"] as? String == "ready" else { throw HarnessError.timeout("the clip did not convert: \(status)") }
        } catch {
            d.cleanUp()
            throw error
        }
    }

    /// The master's variant playlists, relative to the master (`480p/index.m3u8`, …).
    func variants() throws -> [String] {
        let master = try String(contentsOfFile: published + "/master.m3u8", encoding: .utf8)
        return master.split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    func masterText() -> String { (try? String(contentsOfFile: published + "/master.m3u8", encoding: .utf8)) ?? "" }
}

/// What `gst-launch-1.0 playbin` made of a URL: its exit status, and the video frames and the end of stream that
/// reached the (unsynchronised) fake video sink, so "played to the end" means every frame arrived, not only exit 0
/// (hlsdemux skips an unreadable segment and still exits 0).
struct GStreamerRun {
    let status: Int32
    let videoFrames: Int
    let sawEndOfStream: Bool
    let stderr: String

    init(_ url: String) throws {
        let r = try Shell.run("gst-launch-1.0", [
            "-v", "playbin", "uri=\(url)",
            "video-sink=fakesink name=video sync=false silent=false", "audio-sink=fakesink name=audio sync=false silent=false",
        ])
        status = r.status
        videoFrames = r.stdout.components(separatedBy: "GstFakeSink:video: last-message = chain").count - 1
        sawEndOfStream = r.stdout.contains("Got EOS from element \"playbin0\"")
        stderr = r.stderr + r.stdout.split(separator: "\n").filter { $0.hasPrefix("ERROR") || $0.contains("error") }.joined(separator: "\n")
    }

    /// Exit 0, end of stream, and at least 95 % of the clip's frames.
    func playedToTheEnd(of seconds: Double) -> Bool {
        status == 0 && sawEndOfStream && Double(videoFrames) >= 0.95 * seconds * PlaybackRig.fps
    }
}
