import Foundation
import TokenHash

/// What `inboxd partner add|list|remove` does (as root): a system user in `[partners] group`, its drop directory
/// `incoming/NAME`, an SFTP chroot that shows only that directory (a bind mount, persisted as a systemd mount unit),
/// its public key, and an rsyncd module with its own secret. Removing a partner takes all of that away but keeps its
/// drops.
struct PartnerAdmin {
    let settings: PartnerSettings
    /// `<inbox>/incoming`: its owner and group are the daemon's, and each drop directory's group is that group.
    let incoming: String

    enum Failure: Error, CustomStringConvertible {
        case notRoot(String)
        case invalidName(String)
        case nothingToAdd
        case keyRequired
        case keyWithoutSFTP
        case unreadableKey(String, String)
        case userExists(String)
        case notAPartner(String)
        case noIncoming(String)
        case unsafeChrootPath(String, String)
        case unsafeDropDirectory(String)

        var description: String {
            switch self {
            case .notRoot(let what): "\(what) must run as root: it manages system users, a chroot and a bind mount"
            case .invalidName(let n): "partner name '\(n)' must be 1-32 characters: a lower-case letter, then lower-case letters, digits, '_' or '-' (and not 'global', rsyncd's own section)"
            case .nothingToAdd: "give --sftp, --rsync or both"
            case .keyRequired: "--sftp needs --key PUBKEY_FILE (the partner's OpenSSH public key)"
            case .keyWithoutSFTP: "--key is for SFTP logins: add --sftp, or leave --key out for an rsync-only partner"
            case .unreadableKey(let f, let why): "cannot read key file \(f): \(why)"
            case .userExists(let n): "a system user '\(n)' already exists; pick another partner name (or `inboxd partner remove \(n)` first if it is an old partner)"
            case .notAPartner(let n): "'\(n)' is not an inboxd partner (no system user of that name in the partners' group)"
            case .noIncoming(let p): "\(p) is not a directory: create the inbox first (start the daemon once, or install the package)"
            case .unsafeChrootPath(let p, let why): "sshd refuses a chroot under \(p): \(why); every directory up to / must be root-owned and not group- or world-writable (set [partners] chroot_root)"
            case .unsafeDropDirectory(let p): "\(p) exists and is not a directory (a symlink or file); move it away first"
            }
        }
    }

    struct Partner: Equatable {
        let name: String
        let uid: UInt32
        let sftp: Bool
        let rsync: Bool
        let mounted: Bool
        let dropDirectory: String
        let files: Int
    }

    func layout(_ name: String) -> PartnerLayout { PartnerLayout(name: name, settings: settings, incoming: incoming) }

    // MARK: add

    /// Creates the partner and returns it, with the rsync secret (which exists nowhere else afterwards but in the
    /// root-only secrets file). Checks everything it can before it changes anything; undoes what it made on failure.
    func add(name: String, keyFile: String?, sftp: Bool, rsync: Bool) throws -> (Partner, rsyncSecret: String?) {
        try requireRoot("partner add")
        guard PartnerLayout.isValidName(name) else { throw Failure.invalidName(name) }
        guard sftp || rsync else { throw Failure.nothingToAdd }
        if sftp && keyFile == nil { throw Failure.keyRequired }
        if !sftp && keyFile != nil { throw Failure.keyWithoutSFTP }
        var keys: String?
        if let keyFile {
            let text: String
            do { text = try String(contentsOfFile: keyFile, encoding: .utf8) } catch {
                throw Failure.unreadableKey(keyFile, (error as NSError).localizedDescription)
            }
            keys = try PartnerFiles.authorizedKeys(from: text, file: keyFile)
        }
        guard getpwnam(name) == nil else { throw Failure.userExists(name) }
        let owner = try incomingOwner()
        let p = layout(name)
        if let st = FileSystem.status(p.dropDirectory), st.kind != .directory { throw Failure.unsafeDropDirectory(p.dropDirectory) }
        if sftp { try checkChrootRoot() }

        if getgrnam(settings.group) == nil { try SystemTool.run("groupadd", ["--system", settings.group]) }
        try SystemTool.run("useradd", ["--system", "--gid", settings.group, "--home-dir", "/", "--no-create-home",
                                       "--shell", "/usr/sbin/nologin", "--password", "*", "--comment", "inboxd partner", name])
        do {
            guard let pw = getpwnam(name) else { throw Failure.notAPartner(name) }
            try makeDropDirectory(p, uid: pw.pointee.pw_uid, gid: owner.gid)
            var secret: String?
            if let keys {
                try makeDirectory(settings.sshKeysDirectory, mode: 0o755)
                try write(keys, to: p.authorizedKeys, mode: 0o644)
                try makeChroot(p)
            }
            if rsync {
                let s = TokenHash.newToken()
                try makeDirectory(settings.rsyncdDirectory, mode: 0o755)
                try write("\(name):\(s)\n", to: p.rsyncSecrets, mode: 0o600)
                try write(PartnerFiles.rsyncModule(p), to: p.rsyncModule, mode: 0o644)
                secret = s
            }
            return (partner(name, uid: pw.pointee.pw_uid), secret)
        } catch {
            _ = try? remove(name: name)
            throw error
        }
    }

    /// `incoming/NAME`: the partner writes, the daemon's group reads and renames (set-group-id, so every file and
    /// directory made in it gets that group), nobody else may even list it.
    ///
    /// A new one is made under a dot-name (never watched) and renamed into place with its final owner and mode: the
    /// running daemon adds its watch when the directory appears, and could not while it was still root's 0700.
    private func makeDropDirectory(_ p: PartnerLayout, uid: uid_t, gid: gid_t) throws {
        let exists = FileSystem.status(p.dropDirectory) != nil
        let path = exists ? p.dropDirectory : incoming + "/.partner-\(p.name)-\(UInt32.random(in: .min ... .max))"
        if !exists { try check(mkdir(path, 0o700), "mkdir \(path)") }
        try check(lchown(path, uid, gid), "chown \(path)")
        try check(chmod(path, 0o2770), "chmod 2770 \(path)")
        if !exists {
            do { try FileSystem.renameNoReplace(path, p.dropDirectory) } catch {
                rmdir(path)
                throw error
            }
        }
    }

    /// `<chroot_root>/NAME` (root, 0755) holding the mount point `incoming`, the drop directory bound onto it, and
    /// a mount unit so the bind mount comes back at boot.
    private func makeChroot(_ p: PartnerLayout) throws {
        try makeDirectory(p.chroot, mode: 0o755)
        try makeDirectory(p.chrootIncoming, mode: 0o755)
        if !SystemTool.mountPoints().contains(p.chrootIncoming) {
            try SystemTool.run("mount", ["--bind", "-o", "nosuid,nodev,noexec", p.dropDirectory, p.chrootIncoming])
        }
        try makeDirectory(settings.mountUnitDirectory, mode: 0o755)
        try write(PartnerFiles.mountUnit(p), to: p.mountUnit, mode: 0o644)
        try makeDirectory((p.mountUnitWantsLink as NSString).deletingLastPathComponent, mode: 0o755)
        try? FileManager.default.removeItem(atPath: p.mountUnitWantsLink)
        try FileManager.default.createSymbolicLink(atPath: p.mountUnitWantsLink, withDestinationPath: p.mountUnit)
        if SystemTool.systemdIsRunning { try SystemTool.run("systemctl", ["daemon-reload"]) }
    }

    /// sshd checks the chroot and every directory above it: root-owned, not writable by group or others.
    private func checkChrootRoot() throws {
        var path = settings.chrootRoot
        var missing: [String] = []
        while FileSystem.status(path) == nil, path != "/" {
            missing.append(path)
            path = (path as NSString).deletingLastPathComponent
        }
        var dir = path
        while true {
            var st = stat()
            guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw Failure.unsafeChrootPath(settings.chrootRoot, "\(dir) is not a directory")
            }
            if st.st_uid != 0 { throw Failure.unsafeChrootPath(settings.chrootRoot, "\(dir) is owned by uid \(st.st_uid)") }
            if st.st_mode & 0o022 != 0 {
                throw Failure.unsafeChrootPath(settings.chrootRoot, "\(dir) is group- or world-writable (mode \(String(st.st_mode & 0o7777, radix: 8)))")
            }
            if dir == "/" { break }
            dir = (dir as NSString).deletingLastPathComponent
        }
        for m in missing.reversed() { try makeDirectory(m, mode: 0o755) }
    }

    // MARK: list

    func list() -> [Partner] {
        guard let group = getgrnam(settings.group) else { return [] }
        let gid = group.pointee.gr_gid
        var found: [(String, uid_t)] = []
        setpwent()
        while let pw = getpwent() {
            if pw.pointee.pw_gid == gid { found.append((String(cString: pw.pointee.pw_name), pw.pointee.pw_uid)) }
        }
        endpwent()
        return found.sorted { $0.0 < $1.0 }.map { partner($0.0, uid: $0.1) }
    }

    private func partner(_ name: String, uid: uid_t) -> Partner {
        let p = layout(name)
        let fm = FileManager.default
        return Partner(name: name, uid: uid, sftp: fm.fileExists(atPath: p.authorizedKeys), rsync: fm.fileExists(atPath: p.rsyncModule),
                       mounted: SystemTool.mountPoints().contains(p.chrootIncoming), dropDirectory: p.dropDirectory,
                       files: FileSystem.listDirectory(p.dropDirectory).count)
    }

    // MARK: remove

    /// Takes away the logins (key, rsync module), ends the partner's open sessions, the bind mount and its unit,
    /// the chroot's empty directories and the system user. The drop directory and its files stay: they are handed
    /// to the daemon's user, so complete drops are still claimed and nothing is owned by a freed uid.
    @discardableResult
    func remove(name: String) throws -> Partner {
        try requireRoot("partner remove")
        guard PartnerLayout.isValidName(name) else { throw Failure.invalidName(name) }
        guard let group = getgrnam(settings.group), let pw = getpwnam(name), pw.pointee.pw_gid == group.pointee.gr_gid else {
            throw Failure.notAPartner(name)
        }
        let uid = pw.pointee.pw_uid
        let p = layout(name)
        for f in [p.authorizedKeys, p.rsyncModule, p.rsyncSecrets] { try removeIfPresent(f) }
        endSessions(uid: uid)
        if SystemTool.mountPoints().contains(p.chrootIncoming) {
            if (try SystemTool.run("umount", [p.chrootIncoming], check: false)).status != 0 {
                try SystemTool.run("umount", ["--lazy", p.chrootIncoming])
            }
        }
        try removeIfPresent(p.mountUnitWantsLink)
        try removeIfPresent(p.mountUnit)
        if SystemTool.systemdIsRunning { try SystemTool.run("systemctl", ["daemon-reload"]) }
        // rmdir(2) only: never a recursive delete here, in case a mount is still in place.
        for dir in [p.chrootIncoming, p.chroot] where FileSystem.status(dir)?.kind == .directory {
            try check(rmdir(dir), "rmdir \(dir) (it should be an empty directory)")
        }
        let kept = partner(name, uid: uid)
        try SystemTool.run("userdel", [name])
        if FileSystem.status(p.dropDirectory)?.kind == .directory {
            let owner = try incomingOwner()
            try SystemTool.run("chown", ["-R", "-h", "\(owner.uid):\(owner.gid)", p.dropDirectory])
        }
        return kept
    }

    /// SIGKILL to every process running as the partner's uid (its sshd session, an rsync receiver), until none is left.
    private func endSessions(uid: uid_t) {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let pids = SystemTool.processes(ofUID: uid)
            if pids.isEmpty { return }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(50_000)
        }
    }

    // MARK: helpers

    private func requireRoot(_ what: String) throws {
        guard geteuid() == 0 else { throw Failure.notRoot(what) }
    }

    private func incomingOwner() throws -> (uid: uid_t, gid: gid_t) {
        var st = stat()
        guard lstat(incoming, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { throw Failure.noIncoming(incoming) }
        return (st.st_uid, st.st_gid)
    }

    private func makeDirectory(_ path: String, mode: Int) throws {
        if FileSystem.status(path)?.kind == .directory { return }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
    }

    /// Created with its final mode (a secret is never readable by others, not even for a moment), then written.
    private func write(_ text: String, to path: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
        try check(fd >= 0 ? 0 : -1, "open \(path)")
        defer { close(fd) }
        try check(fchmod(fd, mode), "chmod \(path)")
        let bytes = Array(text.utf8)
        try check(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count ? 0 : -1, "write \(path)")
    }

    private func removeIfPresent(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { try check(-1, "remove \(path)") }
    }

    private func check(_ rc: Int32, _ what: String) throws {
        guard rc == 0 else { throw SystemTool.Failure(command: what, status: errno, stderr: String(cString: strerror(errno))) }
    }
}
