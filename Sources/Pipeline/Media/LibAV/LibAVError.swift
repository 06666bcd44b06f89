import CLibAV

/// libav's own words for an error code (`av_strerror`), which is what operators search for.
enum LibAVError {
    static func message(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(AV_ERROR_MAX_STRING_SIZE))
        if av_strerror(code, &buffer, buffer.count) < 0 { return "libav error \(code)" }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static let again = inboxd_AVERROR(EAGAIN)
    static let endOfFile = inboxd_AVERROR_EOF
}
