/// Why a job's own bookkeeping failed (as opposed to a pipeline step).
enum JobError: Error, CustomStringConvertible {
    case rowVanished(String)
    case mediaMissing(dir: String)
    case noSidecar(dir: String)
    case noScratchSpace(path: String, free: Int64, need: Int64)

    var description: String {
        switch self {
        case .rowVanished(let id): "row for video \(id) vanished from the db"
        case .mediaMissing(let dir): "media file missing from \(dir) and the sidecar has no source_url"
        case .noSidecar(let dir): "no sidecar in \(dir)"
        case .noScratchSpace(let path, let free, let need):
            "\(free) bytes free for scratch at \(path), \(need) needed (the input's size plus min_free_bytes)"
        }
    }
}
