import Foundation
import Pipeline
import Testing
import TestSupport

@Suite("Thumbnails")
struct MediaThumbnailTests {
    func jpegHeader(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(2))
    }

    @Test("a video's thumbnail is a JPEG scaled down to maxWidth, keeping the aspect ratio")
    func scalesDown() throws {
        let media = try MediaFactory()
        let input = try media.h264AAC(seconds: 4, width: 640, height: 360)
        let output = media.path("thumb.jpg")
        try Thumbnailer.writeJPEG(input: input, output: output, maxWidth: 320, control: JobControl())
        #expect(try jpegHeader(output) == [0xFF, 0xD8])
        let probe = try FFprobe(path: output)
        #expect(probe.video?.codecName == "mjpeg")
        #expect(probe.video?.width == 320)
        #expect(probe.video?.height == 180)
        #expect(probe.video?.colorRange == "pc")
    }

    @Test("a small video is not scaled up")
    func keepsSmallSize() throws {
        let media = try MediaFactory()
        let output = media.path("thumb.jpg")
        try Thumbnailer.writeJPEG(input: try media.h264NoAudio(seconds: 3), output: output, maxWidth: 640, control: JobControl())
        let probe = try FFprobe(path: output)
        #expect(probe.video?.width == 320)
        #expect(probe.video?.height == 240)
    }

    @Test("the frame comes from 10 % into the video, not the first frame")
    func picksFrameAtFraction() throws {
        let media = try MediaFactory()
        // Red for 0.5 s, then blue; one keyframe at 0, so reaching 1.0 s means decoding forward after the seek.
        let input = try media.redThenBlue(seconds: 10, redSeconds: 0.5)
        let atTenPercent = media.path("ten.jpg")
        try Thumbnailer.writeJPEG(input: input, output: atTenPercent, atFraction: 0.1, control: JobControl())
        let blue = try FFprobe.averageColor(path: atTenPercent)
        #expect(blue.b > 200 && blue.r < 60, "\(blue)")
        let atStart = media.path("start.jpg")
        try Thumbnailer.writeJPEG(input: input, output: atStart, atFraction: 0, control: JobControl())
        let red = try FFprobe.averageColor(path: atStart)
        #expect(red.r > 200 && red.b < 60, "\(red)")
    }

    @Test("a sidecar's PNG thumbnail is normalised to a JPEG through the same call")
    func normalisesStillImage() throws {
        let media = try MediaFactory()
        let output = media.path("thumb.jpg")
        try Thumbnailer.writeJPEG(input: try media.png(width: 800, height: 600), output: output, control: JobControl())
        #expect(try jpegHeader(output) == [0xFF, 0xD8])
        let probe = try FFprobe(path: output)
        #expect(probe.video?.codecName == "mjpeg")
        #expect(probe.video?.width == 640)
        #expect(probe.video?.height == 480)
    }

    @Test("a phone video's thumbnail is upright")
    func rotatedThumbnail() throws {
        let media = try MediaFactory()
        let output = media.path("thumb.jpg")
        try Thumbnailer.writeJPEG(input: try media.rotated(degrees: 90), output: output, control: JobControl())
        let probe = try FFprobe(path: output)
        #expect(probe.video?.width == 240)
        #expect(probe.video?.height == 320)
    }

    @Test("a transcode-only input (VP9) gets a thumbnail too")
    func vp9Thumbnail() throws {
        let media = try MediaFactory()
        let output = media.path("thumb.jpg")
        try Thumbnailer.writeJPEG(input: try media.vp9Opus(seconds: 3), output: output, control: JobControl())
        #expect(try FFprobe(path: output).video?.codecName == "mjpeg")
    }
}
