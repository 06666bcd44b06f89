import Foundation

/// Playlists are replaced whole: written to `<path>.tmp` and renamed over, so a reader (a publisher serving the
/// conversion while it runs) sees the old file or the new one, never half of one.
enum AtomicFile {
    static func write(_ text: String, to path: String) throws(PipelineError) {
        let temporary = path + ".tmp"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw .io(path: temporary, "cannot write playlist", error)
        }
        guard rename(temporary, path) == 0 else { throw .io(path: path, errno: errno) }
    }
}
