import Foundation

/// Checks the directories the daemon needs before any service starts, so a wrong path or a missing permission
/// is one clear line at start instead of a daemon that runs and silently claims nothing.
///
/// The configured directory itself and the inbox's stage directories are created when missing; a missing
/// *parent* is an error that names it (a typo in a path must not grow a new tree somewhere).
enum Preflight {
    static func check(_ config: Config, layout: InboxLayout) throws {
        try ensureDirectory(layout.root, setting: "inbox")
        for dir in layout.stages {
            try ensureDirectory(dir, setting: "inbox")
            try probeWritable(dir, setting: "inbox")
        }
        for parent in [layout.processingRoot, layout.uploadsRoot] {
            if let failed = DirectoryLock.openLockFiles(parent: parent) {
                throw StartupError.lockFile(path: failed.path, reason: String(cString: strerror(failed.code)))
            }
        }
        if config.s3 == nil {
            try ensureDirectory(config.output, setting: "output")
            try ensureDirectory(config.output + "/videos", setting: "output")
            try probeWritable(config.output + "/videos", setting: "output")
        }
        let dbDir = (config.db as NSString).deletingLastPathComponent
        try requireParent(of: config.db, setting: "db")
        try probeWritable(dbDir.isEmpty ? "." : dbDir, setting: "db")
    }

    private static func requireParent(of path: String, setting: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        guard !parent.isEmpty else { return }
        guard let st = FileSystem.status(parent), st.kind == .directory || resolvesToDirectory(parent) else {
            throw StartupError.missingParent(setting: setting, path: path, parent: parent)
        }
    }

    private static func resolvesToDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private static func ensureDirectory(_ path: String, setting: String) throws {
        if resolvesToDirectory(path) { return }
        if FileSystem.status(path) != nil { throw StartupError.notADirectory(setting: setting, path: path) }
        try requireParent(of: path, setting: setting)
        do { try FileSystem.mkdir(path) } catch let e as SystemError {
            throw StartupError.cannotCreate(setting: setting, path: path, reason: String(cString: strerror(e.code)))
        }
    }

    /// Creates and removes a file: the only test that covers modes, ACLs, read-only mounts and immutable flags alike.
    private static func probeWritable(_ dir: String, setting: String) throws {
        let probe = "\(dir)/.inboxd-probe-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw StartupError.notWritable(setting: setting, path: dir, reason: String(cString: strerror(errno)))
        }
        close(fd)
        unlink(probe)
    }
}
