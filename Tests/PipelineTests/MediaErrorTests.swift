import Foundation
import Pipeline
import Testing
import TestSupport

/// Every bad drop must fail with an error that names the file and says what is wrong, never crash.
@Suite("Media errors")
struct MediaErrorTests {
    enum BadInput: String, CaseIterable, CustomTestStringConvertible {
        case zeroByte, randomBytes, truncated, directory

        var testDescription: String { rawValue }

        func make(in media: MediaFactory) throws -> String {
            switch self {
            case .zeroByte: try media.zeroByte()
            case .randomBytes: try media.randomBytes(named: "random.mp4")
            case .truncated: try media.truncated()
            case .directory: try media.directoryNamed("folder.mp4")
            }
        }

        /// What the message must say besides the path.
        var reasonFragment: String {
            switch self {
            case .zeroByte: "empty"
            case .randomBytes, .truncated: "Invalid data found when processing input"
            case .directory: "directory"
            }
        }
    }

    func expectUnreadable(_ error: PipelineError?, path: String, input: BadInput) {
        guard case .unreadableMedia(let errorPath, let reason)? = error else {
            Issue.record("\(input.rawValue): expected unreadableMedia, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(reason.contains(input.reasonFragment), "\(reason)")
        #expect(error?.description.contains(path) == true)
    }

    @Test("probing an unreadable file fails with unreadableMedia", arguments: BadInput.allCases)
    func probe(_ input: BadInput) throws {
        let media = try MediaFactory()
        let path = try input.make(in: media)
        expectUnreadable(thrownPipelineError { () throws(PipelineError) in _ = try MediaProbe.probe(path: path) }, path: path, input: input)
    }

    @Test("converting an unreadable file fails with unreadableMedia and writes no playlist", arguments: BadInput.allCases)
    func convert(_ input: BadInput) throws {
        let media = try MediaFactory()
        let path = try input.make(in: media)
        let out = media.path("out")
        let error = thrownPipelineError { () throws(PipelineError) in
            _ = try HLSConverter().convert(input: path, outputDirectory: out, clip: nil, control: JobControl())
        }
        expectUnreadable(error, path: path, input: input)
        #expect(!FileManager.default.fileExists(atPath: "\(out)/master.m3u8"))
    }

    @Test("a thumbnail of an unreadable file fails with unreadableMedia", arguments: BadInput.allCases)
    func thumbnail(_ input: BadInput) throws {
        let media = try MediaFactory()
        let path = try input.make(in: media)
        let error = thrownPipelineError { () throws(PipelineError) in
            try Thumbnailer.writeJPEG(input: path, output: media.path("thumb.jpg"), control: JobControl())
        }
        expectUnreadable(error, path: path, input: input)
        #expect(!FileManager.default.fileExists(atPath: media.path("thumb.jpg")))
    }

    @Test("a dropped HLS playlist is refused: it would make the daemon read other files or fetch URLs")
    func refusesPlaylists() throws {
        let media = try MediaFactory()
        let segment = try media.h264AAC(seconds: 2)
        let local = media.path("local.mp4")
        try "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n\(segment)\n#EXT-X-ENDLIST\n"
            .write(toFile: local, atomically: true, encoding: .utf8)
        let remote = media.path("remote.mp4")
        try "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttp://127.0.0.1:9/seg.ts\n#EXT-X-ENDLIST\n"
            .write(toFile: remote, atomically: true, encoding: .utf8)
        for path in [local, remote] {
            let error = thrownPipelineError { () throws(PipelineError) in _ = try MediaProbe.probe(path: path) }
            guard case .unreadableMedia(let errorPath, _)? = error else {
                Issue.record("expected unreadableMedia for \(path), got \(String(describing: error))")
                continue
            }
            #expect(errorPath == path)
        }
        let localError = thrownPipelineError { () throws(PipelineError) in _ = try MediaProbe.probe(path: local) }
        #expect(localError?.description.contains("hls files name other files") == true, "\(String(describing: localError))")
    }

    @Test("a missing file names the path and says so")
    func missingFile() throws {
        let media = try MediaFactory()
        let path = media.path("nope.mp4")
        let error = thrownPipelineError { () throws(PipelineError) in _ = try MediaProbe.probe(path: path) }
        #expect(error == .unreadableMedia(path: path, reason: "No such file or directory"))
    }

    @Test("an audio-only file cannot become HLS video or a thumbnail: noVideoStream")
    func audioOnly() throws {
        let media = try MediaFactory()
        let path = try media.audioOnly()
        let convertError = thrownPipelineError { () throws(PipelineError) in
            _ = try HLSConverter().convert(input: path, outputDirectory: media.path("out"), clip: nil, control: JobControl())
        }
        #expect(convertError == .noVideoStream(path: path))
        #expect(convertError?.description == "no video stream in \(path)")
        let thumbnailError = thrownPipelineError { () throws(PipelineError) in
            try Thumbnailer.writeJPEG(input: path, output: media.path("thumb.jpg"), control: JobControl())
        }
        #expect(thumbnailError == .noVideoStream(path: path))
    }
}
