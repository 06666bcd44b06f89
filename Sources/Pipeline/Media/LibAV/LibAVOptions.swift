import CLibAV

/// An owned AVDictionary of options for `avformat_write_header` / `avcodec_open2`. libav removes the
/// options it used and silently keeps the rest, so `requireAllConsumed` turns a typo into an error.
final class LibAVOptions {
    var raw: OpaquePointer?

    init(_ pairs: [(String, String)]) {
        for (key, value) in pairs { av_dict_set(&raw, key, value, 0) }
    }

    deinit { av_dict_free(&raw) }

    func requireAllConsumed(by consumer: String) throws(PipelineError) {
        guard av_dict_count(raw) > 0 else { return }
        var unused: [String] = []
        var entry: UnsafeMutablePointer<AVDictionaryEntry>? = nil
        while let e = av_dict_get(raw, "", entry, AV_DICT_IGNORE_SUFFIX) {
            unused.append("\(String(cString: e.pointee.key))=\(String(cString: e.pointee.value))")
            entry = e
        }
        throw .libav(step: consumer, reason: "options not recognised: \(unused.joined(separator: ", "))")
    }
}
