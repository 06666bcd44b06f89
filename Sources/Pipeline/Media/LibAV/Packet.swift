import CLibAV
import Foundation

/// One owned AVPacket, reused across reads (`av_packet_unref` between uses).
final class Packet {
    let raw: UnsafeMutablePointer<AVPacket>

    init() throws(PipelineError) {
        guard let p = av_packet_alloc() else { throw .libav(step: "av_packet_alloc", reason: "out of memory") }
        raw = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVPacket>? = raw
        av_packet_free(&p)
    }

    var streamIndex: Int { Int(raw.pointee.stream_index) }
    var size: Int { Int(raw.pointee.size) }
    var isKeyframe: Bool { raw.pointee.flags & AV_PKT_FLAG_KEY != 0 }
    var pts: Int64? { raw.pointee.pts == inboxd_AV_NOPTS_VALUE ? nil : raw.pointee.pts }
    var dts: Int64? { raw.pointee.dts == inboxd_AV_NOPTS_VALUE ? nil : raw.pointee.dts }
    var duration: Int64 {
        get { raw.pointee.duration }
        set { raw.pointee.duration = newValue }
    }
    /// pts, else dts: the packet's position on the timeline.
    var time: Int64? { pts ?? dts }

    func unref() { av_packet_unref(raw) }

    /// Moves pts/dts/duration from `from` to `to`, after shifting the timeline by `offset` (in `from` units).
    func rescale(from: AVRational, to: AVRational, offset: Int64 = 0) {
        let rounding = AVRounding(AV_ROUND_NEAR_INF.rawValue | AV_ROUND_PASS_MINMAX.rawValue)
        if raw.pointee.pts != inboxd_AV_NOPTS_VALUE {
            raw.pointee.pts = av_rescale_q_rnd(raw.pointee.pts - offset, from, to, rounding)
        }
        if raw.pointee.dts != inboxd_AV_NOPTS_VALUE {
            raw.pointee.dts = av_rescale_q_rnd(raw.pointee.dts - offset, from, to, rounding)
        }
        raw.pointee.duration = av_rescale_q(raw.pointee.duration, from, to)
        raw.pointee.pos = -1
    }

    func setStreamIndex(_ index: Int) { raw.pointee.stream_index = Int32(index) }
}

/// One owned AVFrame.
final class Frame {
    let raw: UnsafeMutablePointer<AVFrame>

    init() throws(PipelineError) {
        guard let f = av_frame_alloc() else { throw .libav(step: "av_frame_alloc", reason: "out of memory") }
        raw = f
    }

    deinit {
        var f: UnsafeMutablePointer<AVFrame>? = raw
        av_frame_free(&f)
    }

    func unref() { av_frame_unref(raw) }

    /// best_effort_timestamp: the decoder's guess when pts is missing.
    var bestEffortTimestamp: Int64? {
        let t = raw.pointee.best_effort_timestamp
        return t == inboxd_AV_NOPTS_VALUE ? nil : t
    }

    var pts: Int64 {
        get { raw.pointee.pts }
        set { raw.pointee.pts = newValue }
    }

    var width: Int { Int(raw.pointee.width) }
    var height: Int { Int(raw.pointee.height) }
    var format: Int32 { raw.pointee.format }
    var sampleCount: Int { Int(raw.pointee.nb_samples) }
    var isFullRange: Bool { raw.pointee.color_range == AVCOL_RANGE_JPEG }

    /// Lets the encoder choose frame types, or forces an I-frame (a segment boundary).
    func setForcedKeyframe(_ forced: Bool) {
        raw.pointee.pict_type = forced ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE
    }
}

extension Packet {
    /// A copy of the payload.
    var bytes: Data {
        guard let data = raw.pointee.data, raw.pointee.size > 0 else { return Data() }
        return Data(bytes: data, count: Int(raw.pointee.size))
    }
}

extension Frame {
    /// Makes this (unreferenced) frame refer to `other`'s data.
    func takeReference(from other: Frame) throws(PipelineError) {
        let result = av_frame_ref(raw, other.raw)
        if result < 0 { throw .libav(step: "av_frame_ref", reason: LibAVError.message(result)) }
    }

    /// Gives this frame a writable `width` × `height` picture of `format` to draw into, keeping the buffer it
    /// already has when the size and format match and nothing else refers to it (the encoder let go of it, no
    /// queue holds it). A new 1080p buffer per frame is 3 MiB of fresh pages from glibc (over its mmap/trim
    /// thresholds) that the kernel zeroes on first touch, every frame; reusing it skips that.
    func prepareBuffer(width: Int, height: Int, format: AVPixelFormat, step: String) throws(PipelineError) {
        if raw.pointee.buf.0 != nil, self.width == width, self.height == height, self.format == format.rawValue,
           av_frame_is_writable(raw) != 0 {
            return
        }
        unref()
        raw.pointee.width = Int32(width)
        raw.pointee.height = Int32(height)
        raw.pointee.format = format.rawValue
        let allocated = av_frame_get_buffer(raw, 0)
        if allocated < 0 { throw .libav(step: step, reason: LibAVError.message(allocated)) }
    }
}
