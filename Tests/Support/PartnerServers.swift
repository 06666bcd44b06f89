import Foundation

/// Undo actions, run once each in reverse order: what a rig made (system users, bind mounts, servers, directories)
/// is taken away even when its setup or the test fails halfway.
public final class CleanupStack: @unchecked Sendable {
    private let lock = NSLock()
    private var actions: [() -> Void] = []

    public init() {}

    public func push(_ action: @escaping () -> Void) { lock.withLock { actions.append(action) } }

    public func runAll() {
        let todo = lock.withLock { () -> [() -> Void] in
            defer { actions = [] }
            return actions.reversed()
        }
        for action in todo { action() }
    }
}

/// The servers partner accounts use, configured by the files the package installs: a private sshd whose config
/// `Include`s `packaging/sshd/inboxd-sftp.conf`, and `rsync --daemon` reading `packaging/rsyncd/inboxd-rsyncd.conf`.
/// The packaged paths (chroot root, key and module directories) and group are moved into a fresh root-owned
/// directory under /run (sshd refuses a chroot below the world-writable /tmp) and a unique group; both servers
/// listen only on 127.0.0.1 at free ports. `partnersTOML` points `inboxd partner` at the same paths.
///
/// The rig's own sshd_config allows TCP forwarding and ttys globally, so a refusal can only come from the packaged
/// Match block.
public final class PartnerServers: @unchecked Sendable {
    public static let packaging = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("packaging").path

    /// Why the rig cannot run here, or nil when it can.
    public static var unavailableReason: String? {
        if geteuid() != 0 { return "partner accounts need root (system users, bind mounts)" }
        if let r = SSHServer.unavailableReason { return r }
        if let r = Tmpfs.unavailableReason { return r }
        let tools = ["useradd", "userdel", "groupadd", "groupdel", "mount", "umount", "setpriv", "unshare", "pkill", "pgrep"]
        let missing = tools.filter { t in !["/usr/sbin", "/usr/bin", "/sbin", "/bin"].contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(t)") } }
        return missing.isEmpty ? nil : "\(missing.joined(separator: ", ")) missing (run scripts/bootstrap)"
    }

    public static var isAvailable: Bool { unavailableReason == nil }

    public let host = "127.0.0.1"
    public let base: String
    public let group: String
    public let sshPort: Int
    public let rsyncPort: Int
    public var chrootRoot: String { base + "/chroot" }
    public var sshKeysDirectory: String { base + "/ssh" }
    public var rsyncdDirectory: String { base + "/rsyncd" }
    public var mountUnitDirectory: String { base + "/units" }
    public var sshdLogPath: String { base + "/sshd.log" }
    public var rsyncdLogPath: String { base + "/rsyncd.log" }

    /// The `[partners]` table for the daemon's config.
    public var partnersTOML: String {
        """
        [partners]
        group = "\(group)"
        chroot_root = "\(chrootRoot)"
        ssh_keys_dir = "\(sshKeysDirectory)"
        rsyncd_dir = "\(rsyncdDirectory)"
        mount_unit_dir = "\(mountUnitDirectory)"

        """
    }

    public init(cleanups: CleanupStack) throws {
        let id = UUID().uuidString.lowercased().prefix(6)
        group = "itg\(id)"
        let base = "/run/inboxd-partners-\(id)"
        self.base = base
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        cleanups.push {
            // Never delete through a bind mount that is still there (it would delete the drops behind it).
            for m in Self.mountPoints().filter({ $0.hasPrefix(base + "/") }) { _ = try? Shell.run("umount", ["--lazy", m]) }
            try? FileManager.default.removeItem(atPath: base)
        }
        cleanups.push { [group] in
            if getgrnam(group) != nil { _ = try? Shell.run("groupdel", [group]) }
        }
        for dir in ["chroot", "ssh", "rsyncd", "units"] {
            try FileManager.default.createDirectory(atPath: base + "/" + dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        }
        sshPort = FreePort.next()
        rsyncPort = FreePort.next()

        let sshd = try Self.text(Self.packaging + "/sshd/inboxd-sftp.conf")
            .replacingOccurrences(of: "Match Group inboxd-drop", with: "Match Group \(group)")
            .replacingOccurrences(of: "/srv/inboxd-drop", with: chrootRoot)
            .replacingOccurrences(of: "/etc/inboxd/partners/ssh", with: sshKeysDirectory)
        try sshd.write(toFile: base + "/inboxd-sftp.conf", atomically: true, encoding: .utf8)
        let hostKey = base + "/host_key"
        let kg = try Shell.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey])
        guard kg.status == 0 else { throw SSHServer.Failure("ssh-keygen: \(kg.stderr)") }
        let config = """
            Include \(base)/inboxd-sftp.conf
            ListenAddress \(host):\(sshPort)
            AddressFamily inet
            HostKey \(hostKey)
            PidFile \(base)/sshd.pid
            UsePAM no
            UseDNS no
            PrintMotd no
            AllowTcpForwarding yes
            PermitTTY yes
            X11Forwarding yes
            Subsystem sftp internal-sftp
            LogLevel VERBOSE

            """
        try config.write(toFile: base + "/sshd_config", atomically: true, encoding: .utf8)
        try SSHServer.makePrivilegeSeparationDirectory()
        let check = try Shell.run(SSHServer.sshdPath, ["-t", "-f", base + "/sshd_config"])
        guard check.status == 0 else { throw SSHServer.Failure("sshd -t rejected the packaged inboxd-sftp.conf: \(check.stderr)") }
        let sshdProcess = try SupervisedProcess([SSHServer.sshdPath, "-D", "-e", "-f", base + "/sshd_config"], logPath: sshdLogPath)
        cleanups.push { sshdProcess.stop() }

        let rsyncd = try Self.text(Self.packaging + "/rsyncd/inboxd-rsyncd.conf")
            .replacingOccurrences(of: "/etc/inboxd/partners/rsyncd", with: rsyncdDirectory)
            .replacingOccurrences(of: "port = 873", with: "port = \(rsyncPort)")
        try rsyncd.write(toFile: base + "/rsyncd.conf", atomically: true, encoding: .utf8)
        let rsyncProcess = try SupervisedProcess(
            ["rsync", "--daemon", "--no-detach", "--config=\(base)/rsyncd.conf", "--address=\(host)", "--log-file=\(rsyncdLogPath)"],
            logPath: base + "/rsyncd.out")
        cleanups.push { rsyncProcess.stop() }

        for (port, process, name) in [(sshPort, sshdProcess, "sshd"), (rsyncPort, rsyncProcess, "rsync --daemon")] {
            try Self.waitForListener(port: port, process: process, name: name, log: { [base] in
                (try? Self.text(base + (name == "sshd" ? "/sshd.log" : "/rsyncd.out"))) ?? ""
            })
        }
    }

    private static func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    private static func waitForListener(port: Int, process: SupervisedProcess, name: String, log: () -> String) throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            guard process.isRunning else { throw SSHServer.Failure("\(name) exited (status \(process.terminationStatus)):\n\(log())") }
            if (try? RawConnection(port: port)) != nil { return }
            usleep(50_000)
        }
        throw SSHServer.Failure("\(name) did not listen on 127.0.0.1:\(port) within 20 s:\n\(log())")
    }

    /// Mount points in this mount namespace.
    public static func mountPoints() -> [String] {
        ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count > 4 ? String(f[4]).replacingOccurrences(of: "\\040", with: " ") : nil
        }
    }

    public func sshdLog() -> String { (try? Self.text(sshdLogPath)) ?? "" }
    public func rsyncdLog() -> String { (try? Self.text(rsyncdLogPath)) ?? "" }
}

/// A partner's side: its key (made fresh for it), its rsync secret, and the client commands it would run.
public struct PartnerClient: Sendable {
    public let name: String
    public let uid: uid_t
    public let privateKey: String
    public let passwordFile: String
    public let host: String
    public let sshPort: Int
    public let rsyncPort: Int

    public init(name: String, uid: uid_t, privateKey: String, passwordFile: String, servers: PartnerServers) {
        self.name = name
        self.uid = uid
        self.privateKey = privateKey
        self.passwordFile = passwordFile
        host = servers.host
        sshPort = servers.sshPort
        rsyncPort = servers.rsyncPort
    }

    /// This key only, no config file, agent, known_hosts or questions.
    public var sshOptions: [String] {
        ["-F", "/dev/null", "-i", privateKey, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]
    }

    public var login: String { "\(name)@\(host)" }

    /// `sftp -b`: the session starts in the chroot's `/incoming`.
    public func sftpCommand(_ batchFile: String, limitKbps: Int? = nil) -> [String] {
        ["sftp"] + sshOptions + (limitKbps.map { ["-l", "\($0)"] } ?? []) + ["-P", "\(sshPort)", "-b", batchFile, login]
    }

    public func sftp(_ commands: [String], limitKbps: Int? = nil) throws -> Shell.Result {
        let batch = NSTemporaryDirectory() + "/sftp-batch-\(UUID().uuidString.prefix(8))"
        try (commands.joined(separator: "\n") + "\n").write(toFile: batch, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: batch) }
        let c = sftpCommand(batch, limitKbps: limitKbps)
        return try Shell.run(c[0], Array(c.dropFirst()))
    }

    /// OpenSSH 9's scp (SFTP protocol) into `/incoming/`.
    public func scp(_ files: [String]) throws -> Shell.Result {
        try Shell.run("scp", sshOptions + ["-P", "\(sshPort)"] + files + ["\(login):/incoming/"])
    }

    public func ssh(_ extra: [String], input: Data? = nil) throws -> Shell.Result {
        try Shell.run("ssh", sshOptions + ["-p", "\(sshPort)"] + extra, input: input)
    }

    /// `rsync [extra] FILES rsync://NAME@127.0.0.1:PORT/MODULE/` with this partner's secret.
    public func rsyncCommand(_ files: [String], module: String? = nil, extra: [String] = []) -> [String] {
        ["rsync", "--password-file=\(passwordFile)"] + extra + files + ["rsync://\(name)@\(host):\(rsyncPort)/\(module ?? name)/"]
    }

    public func rsync(_ files: [String], module: String? = nil, extra: [String] = []) throws -> Shell.Result {
        let c = rsyncCommand(files, module: module, extra: extra)
        return try Shell.run(c[0], Array(c.dropFirst()))
    }
}
