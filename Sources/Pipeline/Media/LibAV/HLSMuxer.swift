import CLibAV
import Foundation

/// libav's "hls" muxer writing one rendition in the README's output layout:
/// `<dir>/master.m3u8` → `<dir>/<rendition>/index.m3u8` + `seg_00000.ts`…
///
/// The layout comes from `var_stream_map` with `%v` in both the playlist and the segment names and
/// `master_pl_name=master.m3u8`; `master_pl_name=../master.m3u8` would silently write a master with no variant.
///
/// Watchable while converting (the live publisher reads this directory as it grows): playlists are EVENT
/// playlists rewritten after every finished segment, and `temp_file` makes FFmpeg 5.1 write every segment and
/// every playlist under `<name>.tmp` and rename(2) it into place, so a reader never sees a partial file and a
/// playlist only names finished segments. `master.m3u8` first appears once every rendition has its first
/// segment (FFmpeg waits for every variant's playlist) and, with `master_pl_publish_rate=1`, is rewritten after
/// each segment and in the trailer, so its BANDWIDTH follows the running rate. `finish()` ends each playlist
/// with `#EXT-X-ENDLIST` (FFmpeg) and switches it to `#EXT-X-PLAYLIST-TYPE:VOD` (we rewrite it, FFmpeg keeps EVENT).
final class HLSMuxer {
    let directory: String
    private let context: UnsafeMutablePointer<AVFormatContext>
    private let control: JobControl
    /// Bytes and time span written per output stream, for bit rates the muxer could not know up front.
    private var written: [Int: (bytes: Int64, span: OutputSpan)] = [:]
    /// Streams with no `bit_rate` of their own (CRF video, copied streams without one): the muxer reads
    /// `bit_rate` for each master it writes, so these carry the running average rate.
    private var estimatedRates: Set<Int> = []
    private var renditions: [String] = []

    /// Test-only pacing: `INBOXD_TEST_CONVERT_DELAY_MS=<ms>` sleeps before each video keyframe (each segment start
    /// for a transcode), so integration tests can watch a job while it converts. Unset in production.
    private static let testDelayMS = ProcessInfo.processInfo.environment["INBOXD_TEST_CONVERT_DELAY_MS"].flatMap { Int($0) } ?? 0

    init(directory: String, control: JobControl) throws(PipelineError) {
        // '%' would be read as a format specifier in the playlist and segment name patterns.
        guard !directory.contains("%") else {
            throw .invalidArgument("output directory \(directory) must not contain '%'")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(path: directory, "cannot create output directory", error)
        }
        self.directory = directory
        self.control = control
        var oc: UnsafeMutablePointer<AVFormatContext>?
        let result = avformat_alloc_output_context2(&oc, nil, "hls", "\(directory)/%v/index.m3u8")
        guard result >= 0, let oc else {
            throw .libav(step: "create HLS muxer for \(directory)", reason: LibAVError.message(result))
        }
        context = oc
        oc.pointee.interrupt_callback = Interrupt.callback(for: control)
        // The ffmpeg CLI's -muxdelay 0.7: without it every AAC frame gets its own PES and segments grow.
        oc.pointee.max_delay = 700_000
    }

    deinit {
        // avformat_free_context runs the muxer's deinit also when the trailer was never written. (FFmpeg 5.1's
        // hls deinit then leaks the open segment's 1.3 KB dynamic buffer, per ASan: only cancelled or failed
        // conversions get here.)
        avformat_free_context(context)
    }

    /// Whether encoders must put SPS/PPS/AudioSpecificConfig in extradata (true for hls).
    var needsGlobalHeader: Bool { (context.pointee.oformat?.pointee.flags ?? 0) & AVFMT_GLOBALHEADER != 0 }

    /// Adds an output stream that copies an input stream's packets.
    func addStream(
        copying parameters: UnsafePointer<AVCodecParameters>, timeBase: AVRational, metadata: OpaquePointer? = nil
    ) throws(PipelineError) {
        guard let st = avformat_new_stream(context, nil) else {
            throw .libav(step: "avformat_new_stream", reason: "out of memory")
        }
        let copied = avcodec_parameters_copy(st.pointee.codecpar, parameters)
        if copied < 0 { throw .libav(step: "avcodec_parameters_copy", reason: LibAVError.message(copied)) }
        // MP4's 'avc1'/'mp4a' tags are invalid in MPEG-TS; 0 lets the muxer choose.
        st.pointee.codecpar.pointee.codec_tag = 0
        st.pointee.time_base = timeBase
        if let metadata { av_dict_copy(&st.pointee.metadata, metadata, 0) }
    }

    /// Adds an output stream for what an opened encoder produces.
    func addStream(encodedBy encoder: CodecContext) throws(PipelineError) {
        guard let st = avformat_new_stream(context, nil) else {
            throw .libav(step: "avformat_new_stream", reason: "out of memory")
        }
        let copied = avcodec_parameters_from_context(st.pointee.codecpar, encoder.raw)
        if copied < 0 { throw .libav(step: "avcodec_parameters_from_context", reason: LibAVError.message(copied)) }
        st.pointee.time_base = encoder.timeBase
    }

    /// Writes the header with the HLS options (EVENT while converting); fails if the muxer ignored any of them.
    func writeHeader(rendition: String, hasAudio: Bool, segmentSeconds: Double) throws(PipelineError) {
        renditions = [rendition]
        let options = LibAVOptions([
            ("hls_time", String(segmentSeconds)),
            ("hls_playlist_type", "event"),
            ("hls_segment_type", "mpegts"),
            ("hls_segment_filename", "\(directory)/%v/seg_%05d.ts"),
            ("hls_flags", "independent_segments+temp_file"),
            ("master_pl_name", "master.m3u8"),
            ("master_pl_publish_rate", "1"),
            ("var_stream_map", hasAudio ? "v:0,a:0,name:\(rendition)" : "v:0,name:\(rendition)"),
        ])
        let result = avformat_write_header(context, &options.raw)
        if result < 0 { throw failure(result, step: "write HLS header in \(directory)") }
        try options.requireAllConsumed(by: "hls muxer")
    }

    /// The output stream's time base, which the muxer may change in `writeHeader` (MPEG-TS uses 1/90000).
    func timeBase(ofStream index: Int) -> AVRational {
        context.pointee.streams?[index]?.pointee.time_base ?? inboxd_AV_TIME_BASE_Q()
    }

    /// Writes (and takes the data of) a packet already rescaled to the output stream's time base.
    func write(_ packet: Packet) throws(PipelineError) {
        let index = packet.streamIndex
        var stats = written[index] ?? (0, OutputSpan())
        if stats.bytes == 0, let parameters = context.pointee.streams?[index]?.pointee.codecpar, parameters.pointee.bit_rate <= 0 {
            estimatedRates.insert(index)
        }
        stats.bytes += Int64(packet.size)
        stats.span.add(packet: packet, timeBase: timeBase(ofStream: index))
        written[index] = stats
        if estimatedRates.contains(index), stats.span.duration > 0 {
            context.pointee.streams?[index]?.pointee.codecpar.pointee.bit_rate = Int64((Double(stats.bytes) * 8 / stats.span.duration).rounded())
        }
        if Self.testDelayMS > 0, packet.isKeyframe,
           context.pointee.streams?[index]?.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO {
            try pause(milliseconds: Self.testDelayMS)
        }
        let result = av_interleaved_write_frame(context, packet.raw)
        if result < 0 { throw failure(result, step: "write HLS segment in \(directory)") }
    }

    /// Flushes the interleaving queue, writes the last segment, the playlists with `#EXT-X-ENDLIST` and the final
    /// master, then turns each EVENT playlist into a VOD one.
    ///
    /// The master's BANDWIDTH is the streams' `bit_rate` (+10 %), read when the master is written, and a stream
    /// without one is left out, so a CRF-encoded video-only rendition got a master with no variant at all.
    /// Streams the muxer has no rate for carry the average rate actually written (kept up to date in `write`).
    func finish() throws(PipelineError) {
        let result = av_write_trailer(context)
        if result < 0 { throw failure(result, step: "finish HLS playlist in \(directory)") }
        for rendition in renditions { try Self.switchToVOD(playlist: "\(directory)/\(rendition)/index.m3u8") }
    }

    /// FFmpeg ends an EVENT playlist with ENDLIST but keeps its type; a finished video is VOD. Rewritten under a
    /// temporary name and renamed, as FFmpeg does, so a reader sees the old playlist or the new one.
    static func switchToVOD(playlist path: String) throws(PipelineError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .io(path: path, "cannot read the finished playlist", error)
        }
        guard text.contains("#EXT-X-ENDLIST") else { throw .io(path: path, reason: "the finished playlist has no #EXT-X-ENDLIST") }
        let vod = text.replacingOccurrences(of: "#EXT-X-PLAYLIST-TYPE:EVENT", with: "#EXT-X-PLAYLIST-TYPE:VOD")
        let temporary = path + ".vod.tmp"
        do { try vod.write(toFile: temporary, atomically: false, encoding: .utf8) } catch {
            throw .io(path: temporary, "cannot write the VOD playlist", error)
        }
        guard rename(temporary, path) == 0 else { throw .io(path: path, errno: errno) }
    }

    private func pause(milliseconds: Int) throws(PipelineError) {
        var left = milliseconds
        while left > 0 {
            try control.check()
            usleep(UInt32(min(left, 50) * 1000))
            left -= 50
        }
    }

    private func failure(_ code: Int32, step: String) -> PipelineError {
        if control.isCancelled { return .cancelled(reason: control.cancelReason ?? "cancelled") }
        if code == inboxd_AVERROR(ENOSPC) || code == inboxd_AVERROR(EDQUOT) { return .noSpace(path: directory) }
        return .libav(step: step, reason: LibAVError.message(code))
    }
}
