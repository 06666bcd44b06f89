import CLibAV
import Foundation

/// An owned AVCodecContext: a decoder opened from a stream, or an encoder configured by the caller.
final class CodecContext {
    let raw: UnsafeMutablePointer<AVCodecContext>
    private let control: JobControl
    /// Names the codec and its input in error messages.
    let label: String

    private init(codec: UnsafePointer<AVCodec>, label: String, control: JobControl) throws(PipelineError) {
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw .libav(step: "avcodec_alloc_context3", reason: "out of memory")
        }
        raw = ctx
        self.label = label
        self.control = control
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVCodecContext>? = raw
        avcodec_free_context(&ctx)
    }

    /// An opened decoder for `stream` of the file at `path`.
    static func decoder(for stream: MediaStream, path: String, control: JobControl) throws(PipelineError) -> CodecContext {
        guard let codec = avcodec_find_decoder(stream.codecID) else {
            throw .unreadableMedia(path: path, reason: "no decoder for \(stream.codecName)")
        }
        let decoder = try CodecContext(codec: codec, label: "\(stream.codecName) decoder for \(path)", control: control)
        let copied = avcodec_parameters_to_context(decoder.raw, stream.parameters)
        if copied < 0 { throw decoder.failure(copied, step: "configure") }
        decoder.raw.pointee.pkt_timebase = stream.timeBase
        decoder.raw.pointee.thread_count = 0
        // VP9: frame threads (libavcodec's default) with one thread per core rather than its automatic cores + 1,
        // each keeping a frame in flight. Tile (slice) threads held less memory but cost ~4 % more CPU in the
        // loop filter, all of it on the critical path beside the encoders (one-rung 60 s 1080p transcode: 22.5/20.8 s
        // wall, 320 MiB against 21.3/19.8 s, 324 MiB with two frame threads and 21.5/20.4 s, 332 MiB with three;
        // the ffmpeg CLI: 19.9/19.8 s, 330 MiB).
        if stream.codecID == AV_CODEC_ID_VP9 {
            decoder.raw.pointee.thread_type = FF_THREAD_FRAME
            decoder.raw.pointee.thread_count = Int32(max(1, min(ProcessInfo.processInfo.activeProcessorCount, 16)))
        }
        let opened = avcodec_open2(decoder.raw, codec, nil)
        if opened < 0 { throw decoder.failure(opened, step: "open") }
        return decoder
    }

    /// An encoder found by name, not yet opened: set its fields, then call `open(options:)`.
    static func encoder(named name: String, control: JobControl) throws(PipelineError) -> CodecContext {
        guard let codec = avcodec_find_encoder_by_name(name) else {
            throw .libav(step: "find encoder", reason: "this FFmpeg build has no \(name) encoder")
        }
        return try CodecContext(codec: codec, label: "\(name) encoder", control: control)
    }

    static func encoder(id: AVCodecID, control: JobControl) throws(PipelineError) -> CodecContext {
        guard let codec = avcodec_find_encoder(id) else {
            throw .libav(step: "find encoder", reason: "this FFmpeg build has no \(String(cString: avcodec_get_name(id))) encoder")
        }
        return try CodecContext(codec: codec, label: "\(String(cString: avcodec_get_name(id))) encoder", control: control)
    }

    func open(options: LibAVOptions? = nil) throws(PipelineError) {
        let opened: Int32
        if let options {
            opened = avcodec_open2(raw, raw.pointee.codec, &options.raw)
        } else {
            opened = avcodec_open2(raw, raw.pointee.codec, nil)
        }
        if opened < 0 { throw failure(opened, step: "open") }
        try options?.requireAllConsumed(by: label)
    }

    var timeBase: AVRational { raw.pointee.time_base }
    var frameSize: Int { Int(raw.pointee.frame_size) }

    /// Sends a packet (nil drains at end of input). False when the decoder's output must be read first.
    /// A corrupt packet is skipped, as the ffmpeg CLI does (libav logs it): one bad frame should not fail a job.
    func send(_ packet: Packet?) throws(PipelineError) -> Bool {
        let result = avcodec_send_packet(raw, packet?.raw)
        if result == LibAVError.again { return false }
        if result == inboxd_AVERROR_INVALIDDATA { return true }
        if result < 0, result != LibAVError.endOfFile { throw failure(result, step: "decode") }
        return true
    }

    /// Receives a decoded frame; false when the decoder needs input or is drained.
    func receive(_ frame: Frame) throws(PipelineError) -> Bool {
        let result = avcodec_receive_frame(raw, frame.raw)
        if result == LibAVError.again || result == LibAVError.endOfFile { return false }
        if result < 0 { throw failure(result, step: "decode") }
        return true
    }

    /// Sends a frame to the encoder (nil flushes). False when output packets must be read first.
    func send(_ frame: Frame?) throws(PipelineError) -> Bool {
        let result = avcodec_send_frame(raw, frame?.raw)
        if result == LibAVError.again { return false }
        if result < 0, result != LibAVError.endOfFile { throw failure(result, step: "encode") }
        return true
    }

    /// Receives an encoded packet; false when the encoder needs input or is drained.
    func receive(_ packet: Packet) throws(PipelineError) -> Bool {
        let result = avcodec_receive_packet(raw, packet.raw)
        if result == LibAVError.again || result == LibAVError.endOfFile { return false }
        if result < 0 { throw failure(result, step: "encode") }
        return true
    }

    func flushBuffers() { avcodec_flush_buffers(raw) }

    private func failure(_ code: Int32, step: String) -> PipelineError {
        control.isCancelled ? .cancelled(reason: control.cancelReason ?? "cancelled")
            : .libav(step: "\(step) \(label)", reason: LibAVError.message(code))
    }
}
