import Foundation

/// Each directory the daemon uses: there (or creatable at start, as `Preflight` does), a directory, and writable
/// by the user running the check, which is why the README says to run `doctor` as the service user.
enum DirectoryCheck {
    static func findings(_ config: Config) -> [Finding] {
        let layout = InboxLayout(root: config.inbox)
        var dirs: [(setting: String, path: String)] = [("inbox", layout.root)]
        dirs += layout.stages.map { ("inbox", $0) }
        if config.s3 == nil { dirs += [("output", config.output), ("output", config.output + "/videos")] }
        let dbDir = (config.db as NSString).deletingLastPathComponent
        dirs.append(("db", dbDir.isEmpty ? "." : dbDir))
        var created: Set<String> = []
        return dirs.map { check($0.path, setting: $0.setting, created: &created) }
    }

    /// `created`: directories found missing that the daemon will create at start, in order (a stage directory of a
    /// missing inbox root is created with it).
    static func check(_ path: String, setting: String, created: inout Set<String>) -> Finding {
        let what = "\(setting) directory \(path)"
        let user = currentUser
        var st = stat()
        guard stat(path, &st) == 0 else {
            let parent = (path as NSString).deletingLastPathComponent
            if errno == ENOENT, !parent.isEmpty, created.contains(parent) || isWritableDirectory(parent) {
                created.insert(path)
                return .ok("\(what) (missing; inboxd creates it at start)")
            }
            return .fail(what, "\(String(cString: strerror(errno)))",
                         fix: "create it (mkdir -p \(path)) owned by the service user, or fix `\(setting)` in the config")
        }
        let owner = "\(name(uid: st.st_uid)):\(group(gid: st.st_gid)) \(String(st.st_mode & 0o7777, radix: 8))"
        guard st.st_mode & S_IFMT == S_IFDIR else {
            return .fail(what, "not a directory", fix: "move it aside or point `\(setting)` at a directory")
        }
        guard access(path, W_OK | X_OK) == 0 else {
            return .fail("\(what) (\(owner))", "not writable by \(user)",
                         fix: "chown \(user) \(path) (or chmod u+rwx), or run doctor as the user the daemon runs as")
        }
        return .ok("\(what) (\(owner), writable by \(user))")
    }

    private static func isWritableDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR && access(path, W_OK | X_OK) == 0
    }

    static var currentUser: String { name(uid: geteuid()) }

    static func name(uid: uid_t) -> String {
        guard let pw = getpwuid(uid) else { return String(uid) }
        return String(cString: pw.pointee.pw_name)
    }

    static func group(gid: gid_t) -> String {
        guard let gr = getgrgid(gid) else { return String(gid) }
        return String(cString: gr.pointee.gr_name)
    }
}
