import CLibAV
import Logging
import Synchronization

/// Routes libav's log (warning and above) to swift-log instead of stderr.
///
/// libav logs from decoder and encoder worker threads and writes one line in fragments (e.g. "muxrate VBR, "
/// and then the rest), so fragments are buffered under a lock until the newline and the "[mpegts @ 0x…]" prefix
/// state carries over between calls, as in ffmpeg's own callback.
public enum LibAVLog {
    public static func install(logger: Logger) {
        sink.withLock { $0.logger = logger }
        av_log_set_callback { context, level, format, arguments in
            // The low byte is the level; higher bits may carry a colour hint (AV_LOG_C).
            guard level & 0xFF <= AV_LOG_WARNING, let format, let arguments else { return }
            LibAVLog.receive(context: context, level: level, format: format, arguments: arguments)
        }
    }

    private struct Sink {
        var logger: Logger?
        var pending = ""
        var pendingLevel = AV_LOG_WARNING
        var printPrefix: Int32 = 1
    }

    private static let sink = Mutex(Sink())

    private static func receive(
        context: UnsafeMutableRawPointer?, level: Int32, format: UnsafePointer<CChar>, arguments: CVaListPointer
    ) {
        sink.withLock { s in
            var buffer = [CChar](repeating: 0, count: 1024)
            let count = av_log_format_line2(context, level, format, arguments, &buffer, Int32(buffer.count), &s.printPrefix)
            guard count >= 0 else { return }
            let fragment = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let base = level & 0xFF
            s.pendingLevel = s.pending.isEmpty ? base : min(s.pendingLevel, base)
            s.pending += fragment
            guard s.pending.hasSuffix("\n") else { return }
            let line = s.pending.trimmingSuffix("\n")
            s.pending = ""
            guard !line.isEmpty else { return }
            s.logger?.log(level: Self.level(s.pendingLevel), "libav", metadata: ["libav.message": .string(line)])
        }
    }

    private static func level(_ avLevel: Int32) -> Logger.Level {
        switch avLevel {
        case ...AV_LOG_FATAL: .critical
        case ...AV_LOG_ERROR: .error
        default: .warning
        }
    }
}

private extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }
}
