import Foundation
import Pipeline
import Testing
import TestSupport

@Suite("Media probe")
struct MediaProbeTests {
    @Test("an H.264/AAC MP4 is described with its duration, size, codecs and container")
    func probesH264AAC() throws {
        let media = try MediaFactory()
        let path = try media.h264AAC(seconds: 6, width: 320, height: 240)
        let info = try MediaProbe.probe(path: path)
        #expect(abs(info.durationSeconds - 6) < 0.1)
        #expect(info.width == 320)
        #expect(info.height == 240)
        #expect(info.videoCodec == "h264")
        #expect(info.audioCodec == "aac")
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(info.sizeBytes == Int64(size ?? -1))
        #expect(info.formatName.contains("mp4"))
    }

    @Test("a VP9/Opus WebM reports vp9 and opus")
    func probesVP9Opus() throws {
        let media = try MediaFactory()
        let info = try MediaProbe.probe(path: try media.vp9Opus(seconds: 3, width: 256, height: 144))
        #expect(info.videoCodec == "vp9")
        #expect(info.audioCodec == "opus")
        #expect(info.width == 256)
        #expect(info.height == 144)
        #expect(info.formatName.contains("webm"))
        #expect(abs(info.durationSeconds - 3) < 0.1)
    }

    @Test("an audio-only file is described without video (conversion is what refuses it)")
    func probesAudioOnly() throws {
        let media = try MediaFactory()
        let info = try MediaProbe.probe(path: try media.audioOnly())
        #expect(info.videoCodec == nil)
        #expect(info.width == nil)
        #expect(info.audioCodec == "aac")
    }
}
