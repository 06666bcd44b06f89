import CLibAV
import Foundation

public enum Thumbnailer {
    /// MJPEG qscale: 3 looks clean at thumbnail sizes and keeps a 640 px frame around 20–40 KB.
    static let jpegQuality: Int32 = 3

    /// Blocking. A JPEG of a frame near `fraction` of the duration (or the first frame of a still image, so a
    /// sidecar-supplied PNG/JPEG thumbnail can be normalised through the same call), scaled to ≤ maxWidth.
    ///
    /// Cover art (`AV_DISPOSITION_ATTACHED_PIC`) is never picked; a file with only cover art has no video stream.
    /// The output is written to a temporary name and renamed, so `output` is either complete or untouched.
    public static func writeJPEG(
        input path: String, output: String, atFraction fraction: Double = 0.1, maxWidth: Int = 640,
        control: JobControl
    ) throws(PipelineError) {
        guard maxWidth >= 2 else { throw .invalidArgument("thumbnail width \(maxWidth) must be at least 2") }
        try control.check()
        let input = try InputFile(path: path, control: control)
        guard let video = input.bestVideoStream else { throw .noVideoStream(path: path) }
        input.discardAll(except: [video])
        var picture = try decodeFrame(of: video, in: input, atFraction: fraction, control: control)
        if video.displayRotation != 0 { picture = try upright(picture, degrees: video.displayRotation) }
        let jpeg = try encodeJPEG(picture, maxWidth: maxWidth, control: control)
        do {
            try jpeg.write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw .io(path: output, "cannot write thumbnail", error)
        }
    }

    /// The first frame at or after `fraction` of the duration (the last frame if the file ends first).
    private static func decodeFrame(
        of video: MediaStream, in input: InputFile, atFraction fraction: Double, control: JobControl
    ) throws(PipelineError) -> Frame {
        let decoder = try CodecContext.decoder(for: video, path: input.path, control: control)
        var target = Int64.min
        if let duration = input.durationSeconds, fraction > 0, fraction < 1 {
            let seconds = input.startSeconds + duration * fraction
            do {
                try input.seek(toSeconds: seconds)
                decoder.flushBuffers()
                target = video.timestamp(seconds: seconds)
            } catch .cancelled(let reason) {
                throw .cancelled(reason: reason)
            } catch {
                // Unseekable input: decode from where we are; the first frame is still a thumbnail.
            }
        }
        let packet = try Packet()
        let frame = try Frame()
        let best = try Frame()
        var haveFrame = false
        var reachedTarget = false
        func takeFrames() throws(PipelineError) {
            while !reachedTarget, try decoder.receive(frame) {
                best.unref()
                try best.takeReference(from: frame)
                haveFrame = true
                reachedTarget = (frame.bestEffortTimestamp ?? Int64.max) >= target
                frame.unref()
            }
        }
        while !reachedTarget, try input.read(into: packet) {
            defer { packet.unref() }
            try control.check()
            guard packet.streamIndex == video.index else { continue }
            // Once the target frame is out, stop: the decoder may refuse input until its other frames are read.
            while !reachedTarget, !(try decoder.send(packet)) { try takeFrames() }
            try takeFrames()
        }
        if !reachedTarget {
            _ = try decoder.send(nil as Packet?)
            try takeFrames()
        }
        guard haveFrame else { throw .unreadableMedia(path: input.path, reason: "no decodable video frame") }
        return best
    }

    /// The picture turned as its display matrix says (portrait phone videos), via even-sized yuv420p.
    private static func upright(_ picture: Frame, degrees: Int) throws(PipelineError) -> Frame {
        let scaler = Scaler(width: max(2, picture.width & ~1), height: max(2, picture.height & ~1), format: AV_PIX_FMT_YUV420P)
        var source = picture
        if scaler.isNeeded(for: picture) {
            source = try Frame()
            try scaler.scale(picture, into: source)
        }
        let turned = try Frame()
        try FrameRotator(degrees: degrees).rotate(source, into: turned)
        if degrees != 180 { turned.invertSampleAspectRatio() }
        return turned
    }

    /// Scales to at most `maxWidth` (by display aspect ratio, even sizes) and encodes a baseline JPEG.
    private static func encodeJPEG(_ picture: Frame, maxWidth: Int, control: JobControl) throws(PipelineError) -> Data {
        let sar = picture.sampleAspectRatio
        let aspect = sar.num > 0 && sar.den > 0 ? av_q2d(sar) : 1
        let displayWidth = Double(picture.width) * aspect
        let width = min(Double(maxWidth), displayWidth)
        let height = Double(picture.height) * width / displayWidth
        let w = max(2, Int(width.rounded()) & ~1)
        let h = max(2, Int(height.rounded()) & ~1)

        let scaled = try Frame()
        // Full-range yuv420p tagged as JPEG range: yuvj420p would do the same but makes swscale warn on every call.
        try Scaler(width: w, height: h, format: AV_PIX_FMT_YUV420P, fullRange: true).scale(picture, into: scaled)
        let encoder = try CodecContext.encoder(id: AV_CODEC_ID_MJPEG, control: control)
        encoder.configureJPEG(width: w, height: h, qscale: jpegQuality)
        try encoder.open()
        scaled.setQuality(qscale: jpegQuality)
        scaled.pts = 0
        let packet = try Packet()
        _ = try encoder.send(scaled)
        _ = try encoder.send(nil as Frame?)
        guard try encoder.receive(packet) else {
            throw .libav(step: "encode thumbnail", reason: "the JPEG encoder produced no picture")
        }
        defer { packet.unref() }
        return packet.bytes
    }
}
