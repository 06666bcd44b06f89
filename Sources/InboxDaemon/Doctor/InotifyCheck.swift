import Foundation

/// The watcher holds one inotify instance and one watch per directory: `incoming/` and each user subdirectory.
/// The kernel's per-user limits must leave room for them and for other programs of the same user.
enum InotifyCheck {
    static let procDirectory = "/proc/sys/fs/inotify"

    static func finding(incoming: String) -> Finding {
        let directories = 1 + FileSystem.listDirectory(incoming)
            .filter { !DropNames.isIgnored($0) && FileSystem.status(incoming + "/" + $0)?.kind == .directory }.count
        guard let watches = read("max_user_watches"), let instances = read("max_user_instances") else {
            return .fail("inotify limits", "cannot read \(procDirectory)", fix: "inboxd needs a Linux kernel with inotify")
        }
        return finding(maxUserWatches: watches, maxUserInstances: instances, directories: directories)
    }

    /// Twice the directories: partners add directories while the daemon runs, and other programs of the user watch too.
    static func finding(maxUserWatches: Int, maxUserInstances: Int, directories: Int) -> Finding {
        let what = "inotify limits (max_user_watches \(maxUserWatches), max_user_instances \(maxUserInstances)) for \(directories) inbox directories"
        if maxUserWatches < 2 * directories {
            return .fail(what, "max_user_watches leaves too little room for \(directories) watched directories",
                         fix: "sysctl fs.inotify.max_user_watches=\(max(8192, 4 * directories)) (persist it in /etc/sysctl.d/)")
        }
        if maxUserInstances < 2 {
            return .fail(what, "max_user_instances is below 2", fix: "sysctl fs.inotify.max_user_instances=128 (persist it in /etc/sysctl.d/)")
        }
        return .ok(what)
    }

    private static func read(_ name: String) -> Int? {
        (try? String(contentsOfFile: procDirectory + "/" + name, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
