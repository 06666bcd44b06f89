import CLibAV
import Foundation

/// One HLS rendition: `<rendition dir>/index.m3u8` + `seg_00000.ts`… (or `init.mp4` + `seg_00000.m4s`… for fMP4).
/// Each rung of a ladder has its own muxer, so the rungs mux on their own threads; the master playlist is ours
/// (`MasterPlaylist`).
///
/// MPEG-TS renditions are cut here (`TSSegments`): libav's "mpegts" muxer writes straight into each segment file,
/// and the playlist is ours. libav's "hls" muxer, which fMP4 renditions still use, muxes every segment into a
/// growing in-memory buffer and copies that into the file at the segment's end: three more copies of every byte,
/// a quarter of a remux's time (10-minute 1080p remux: 0.48 s with the "hls" muxer against 0.37 s with "mpegts"
/// into one file, ffmpeg CLI). The cut rule, the file names and the playlist are the "hls" muxer's.
///
/// While converting, index.m3u8 is an EVENT playlist rewritten after every segment through a temporary file and
/// rename(2) (segments are named `.tmp` until complete), so a publisher can serve it as it grows; `finish()` ends
/// it with `#EXT-X-ENDLIST` and turns it into a VOD playlist.
final class HLSMuxer {
    let directory: String
    let format: SegmentFormat
    private let context: UnsafeMutablePointer<AVFormatContext>
    private let control: JobControl
    /// MPEG-TS: the segments cut here; nil for fMP4 (libav's "hls" muxer).
    private var segments: TSSegments?

    var playlistPath: String { "\(directory)/index.m3u8" }

    init(directory: String, format: SegmentFormat, control: JobControl) throws(PipelineError) {
        // '%' would be read as a format specifier in the segment name pattern.
        guard !directory.contains("%") else {
            throw .invalidArgument("output directory \(directory) must not contain '%'")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(path: directory, "cannot create output directory", error)
        }
        self.directory = directory
        self.format = format
        self.control = control
        var oc: UnsafeMutablePointer<AVFormatContext>?
        let result = avformat_alloc_output_context2(&oc, nil, format == .ts ? "mpegts" : "hls", "\(directory)/index.m3u8")
        guard result >= 0, let oc else {
            throw .libav(step: "create HLS muxer for \(directory)", reason: LibAVError.message(result))
        }
        context = oc
        oc.pointee.interrupt_callback = Interrupt.callback(for: control)
        // The ffmpeg CLI's -muxdelay 0.7: without it every AAC frame gets its own PES and segments grow.
        oc.pointee.max_delay = 700_000
        // AVFMT_AVOID_NEG_TS_DISABLED, here and in the segment muxer (`writeHeader`): see there.
        oc.pointee.avoid_negative_ts = 0
    }

    deinit {
        segments?.abandon(context)
        // avformat_free_context runs the muxer's deinit also when the trailer was never written. (FFmpeg 5.1's
        // hls deinit then leaks the open segment's 1.3 KB dynamic buffer, per ASan: only cancelled or failed
        // conversions get here.)
        avformat_free_context(context)
    }

    /// Whether encoders must put SPS/PPS/AudioSpecificConfig in extradata (true for hls).
    /// (Also for MPEG-TS segments, as when the "hls" muxer wrote them: the TS muxer repeats the extradata's SPS/PPS
    /// before every key frame.)
    var needsGlobalHeader: Bool { format == .ts || (context.pointee.oformat?.pointee.flags ?? 0) & AVFMT_GLOBALHEADER != 0 }

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

    /// Writes the header with the HLS options; fails if the muxer ignored any of them.
    func writeHeader(schedule: SegmentSchedule) throws(PipelineError) {
        if format == .ts {
            var segments = TSSegments(directory: directory, schedule: schedule,
                                      streamCount: Int(context.pointee.nb_streams), control: control)
            try segments.open(context)
            // PAT/PMT before every video key frame and SDT once per segment (at its start, `resend_headers`), not
            // every 0.1 s and 0.5 s: what libav's "hls" muxer writes (its segments were 0.4 % smaller for that).
            let options = LibAVOptions([("pat_period", "100000"), ("sdt_period", "100000")])
            let result = avformat_write_header(context, &options.raw)
            if result < 0 { throw failure(result, step: "write MPEG-TS header in \(directory)") }
            try options.requireAllConsumed(by: "mpegts muxer")
            self.segments = segments
            return
        }
        var pairs = [
            ("hls_time", String(schedule.every)),
            ("hls_playlist_type", "event"),
            ("hls_segment_type", format == .ts ? "mpegts" : "fmp4"),
            ("hls_segment_filename", "\(directory)/seg_%05d.\(format.segmentExtension)"),
            ("hls_flags", "independent_segments+temp_file"),
            // By default libav shifts the whole rendition by its first packet's negative dts (B-frame delay, AAC
            // priming), which differs per rung: the rungs' key frames would no longer sit at the same times.
            ("hls_segment_options", "avoid_negative_ts=disabled"),
        ]
        if format == .fmp4 { pairs.append(("hls_fmp4_init_filename", "init.mp4")) }
        let options = LibAVOptions(pairs)
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
        if Self.testDelayMS > 0, packet.isKeyframe,
           context.pointee.streams?[packet.streamIndex]?.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO {
            try pause(milliseconds: Self.testDelayMS)
        }
        if segments != nil {
            do throws(TSSegments.Failure) { try segments!.write(packet, to: context) } catch {
                throw failure(error, step: "write HLS segment in \(directory)")
            }
            return
        }
        let result = av_interleaved_write_frame(context, packet.raw)
        if result < 0 { throw failure(result, step: "write HLS segment in \(directory)") }
    }

    /// Flushes the interleaving queue, writes the last segment and ends the playlist as VOD.
    func finish() throws(PipelineError) {
        if segments != nil {
            do throws(TSSegments.Failure) { try segments!.finish(context) } catch {
                throw failure(error, step: "finish HLS playlist in \(directory)")
            }
            return
        }
        let result = av_write_trailer(context)
        if result < 0 { throw failure(result, step: "finish HLS playlist in \(directory)") }
        try Self.markVOD(playlist: playlistPath)
    }

    /// libav ends an EVENT playlist with `#EXT-X-ENDLIST` but keeps its type; a finished one is VOD.
    static func markVOD(playlist path: String) throws(PipelineError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .io(path: path, "cannot read the finished playlist", error)
        }
        var lines = text.components(separatedBy: "\n")
        if let i = lines.firstIndex(of: "#EXT-X-PLAYLIST-TYPE:EVENT") { lines[i] = "#EXT-X-PLAYLIST-TYPE:VOD" }
        if !lines.contains("#EXT-X-ENDLIST") { lines.insert("#EXT-X-ENDLIST", at: lines.last == "" ? lines.count - 1 : lines.count) }
        try AtomicFile.write(lines.joined(separator: "\n"), to: path)
    }

    /// Test-only pacing: `INBOXD_TEST_CONVERT_DELAY_MS=<ms>` sleeps before each video keyframe (each segment start
    /// for a transcode), so integration tests can watch a job while it converts. Unset in production.
    private static let testDelayMS = ProcessInfo.processInfo.environment["INBOXD_TEST_CONVERT_DELAY_MS"].flatMap { Int($0) } ?? 0

    private func pause(milliseconds: Int) throws(PipelineError) {
        var left = milliseconds
        while left > 0 {
            try control.check()
            usleep(UInt32(min(left, 50) * 1000))
            left -= 50
        }
    }

    private func failure(_ error: TSSegments.Failure, step: String) -> PipelineError {
        switch error {
        case .libav(let code): failure(code, step: step)
        case .pipeline(let e): e
        }
    }

    private func failure(_ code: Int32, step: String) -> PipelineError {
        if control.isCancelled { return .cancelled(reason: control.cancelReason ?? "cancelled") }
        if code == inboxd_AVERROR(ENOSPC) || code == inboxd_AVERROR(EDQUOT) { return .noSpace(path: directory) }
        return .libav(step: step, reason: LibAVError.message(code))
    }
}
