import Foundation

/// Playlists are replaced whole: written to `<path>.tmp` and renamed over, so a reader (a publisher serving the
/// conversion while it runs) sees the old file or the new one, never half of one.
///
/// `durable: false` skips the `fsync` (Foundation's `Data.write` syncs on Linux): for the EVENT playlist rewritten
/// after every segment while converting, as libav's "hls" muxer wrote it; the finished playlist is synced.
enum AtomicFile {
    static func write(_ text: String, to path: String, durable: Bool = true) throws(PipelineError) {
        let temporary = path + ".tmp"
        if !durable {
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .io(path: temporary, errno: errno) }
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else {
                    let code = errno
                    close(fd)
                    throw .io(path: temporary, errno: code)
                }
                bytes = bytes.dropFirst(n)
            }
            guard close(fd) == 0 else { throw .io(path: temporary, errno: errno) }
            guard rename(temporary, path) == 0 else { throw .io(path: path, errno: errno) }
            return
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw .io(path: temporary, "cannot write playlist", error)
        }
        guard rename(temporary, path) == 0 else { throw .io(path: path, errno: errno) }
    }
}
