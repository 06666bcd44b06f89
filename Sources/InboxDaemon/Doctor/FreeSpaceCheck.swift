import Foundation

/// Free space where drops, scratch and the db live against `min_free_bytes`, below which the receiver refuses
/// uploads (507) and jobs fail with `no_space`.
enum FreeSpaceCheck {
    static func findings(_ config: Config) -> [Finding] {
        var paths = [config.inbox, (config.db as NSString).deletingLastPathComponent]
        if config.s3 == nil { paths.append(config.output) }
        var seen = Set<UInt>()
        return paths.compactMap { path in
            var fs = statvfs()
            guard statvfs(path, &fs) == 0, seen.insert(fs.f_fsid).inserted else { return nil }
            return finding(path: path, free: Int64(fs.f_bavail) * Int64(fs.f_frsize), minimum: config.minFreeBytes)
        }
    }

    static func finding(path: String, free: Int64, minimum: Int64) -> Finding {
        let what = "free space on \(path): \(megabytes(free)) (min_free_bytes \(megabytes(minimum)))"
        guard free >= minimum else {
            return .fail(what, "below min_free_bytes: uploads get 507 and jobs fail with no_space",
                         fix: "free space on that filesystem (old output, failed/ originals) or lower min_free_bytes")
        }
        return .ok(what)
    }

    static func megabytes(_ bytes: Int64) -> String { "\(bytes >> 20) MiB" }
}
