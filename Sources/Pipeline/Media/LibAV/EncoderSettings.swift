import CLibAV

/// The fields each of our encoders needs, set in one place so the conversion code never touches C structs.
extension CodecContext {
    /// libx264 input: yuv420p frames in the source stream's time base.
    func configureVideo(
        width: Int, height: Int, timeBase: AVRational, frameRate: AVRational?, sampleAspectRatio: AVRational, gopSize: Int
    ) {
        raw.pointee.width = Int32(width)
        raw.pointee.height = Int32(height)
        raw.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        raw.pointee.time_base = timeBase
        if let frameRate { raw.pointee.framerate = frameRate }
        raw.pointee.sample_aspect_ratio = sampleAspectRatio
        raw.pointee.gop_size = Int32(gopSize)
        // 0 = one thread per core, like the ffmpeg CLI; libavcodec's default is a single thread.
        raw.pointee.thread_count = 0
    }

    /// VBV rate control (libx264 `b:v`, `maxrate`, `bufsize`), bits/s: a rung's average and peak stay predictable,
    /// which is what a player's bandwidth estimate needs.
    func configureRate(bitRate: Int, maxRate: Int, bufferSize: Int) {
        raw.pointee.bit_rate = Int64(bitRate)
        raw.pointee.rc_max_rate = Int64(maxRate)
        raw.pointee.rc_buffer_size = Int32(clamping: bufferSize)
    }

    /// AAC: float planar, `channels` in the default layout, pts counted in samples.
    func configureAudio(sampleRate: Int32, channels: Int32, bitRate: Int) {
        raw.pointee.sample_rate = sampleRate
        av_channel_layout_default(&raw.pointee.ch_layout, channels)
        raw.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        raw.pointee.bit_rate = Int64(bitRate)
        raw.pointee.time_base = AVRational(num: 1, den: sampleRate)
    }

    /// MJPEG at fixed quality `qscale` (2–31, lower is better), full-range yuv420p.
    func configureJPEG(width: Int, height: Int, qscale: Int32) {
        raw.pointee.width = Int32(width)
        raw.pointee.height = Int32(height)
        raw.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        // Without JPEG range, avcodec_open2 refuses yuv420p as "non full-range YUV is non-standard".
        raw.pointee.color_range = AVCOL_RANGE_JPEG
        raw.pointee.time_base = AVRational(num: 1, den: 25)
        raw.pointee.flags |= AV_CODEC_FLAG_QSCALE
        raw.pointee.global_quality = FF_QP2LAMBDA * qscale
    }

    /// Codec config in extradata instead of in-band, as muxers with AVFMT_GLOBALHEADER (hls) want.
    func requestGlobalHeader() { raw.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
}

extension Frame {
    var sampleRate: Int { Int(raw.pointee.sample_rate) }
    var sampleAspectRatio: AVRational { raw.pointee.sample_aspect_ratio }
    func setQuality(qscale: Int32) { raw.pointee.quality = FF_QP2LAMBDA * qscale }

    /// After a quarter turn, pixels that were wide are tall.
    func invertSampleAspectRatio() {
        let sar = raw.pointee.sample_aspect_ratio
        if sar.num > 0 && sar.den > 0 { raw.pointee.sample_aspect_ratio = AVRational(num: sar.den, den: sar.num) }
    }
}

extension MediaStream {
    var sampleAspectRatio: AVRational { raw.pointee.codecpar.pointee.sample_aspect_ratio }
}
