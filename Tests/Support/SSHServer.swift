import Foundation

/// A private OpenSSH server for tests: `/usr/sbin/sshd -D -e` with its own config, a fresh ed25519 host key and a
/// fresh client key in a temp dir, listening only on 127.0.0.1 at a free port. Public-key login only, for the user
/// running the tests (root in `make test`), with the in-process `internal-sftp` subsystem. It never touches port 22
/// or the system's sshd and its config.
///
/// The clients (`scp`, `sftp -b`, `rsync -e ssh`) run with `-F /dev/null` and the rig's key only, so neither
/// `~/.ssh/config`, an agent nor `known_hosts` can change what they do.
///
/// sshd runs under a small watchdog that stops it when its stdin closes, so a test process that dies never leaves
/// an sshd behind.
public final class SSHServer: @unchecked Sendable {
    public static let sshdPath = "/usr/sbin/sshd"
    public static let clients = ["ssh", "scp", "sftp", "rsync", "ssh-keygen"]

    /// Why the rig cannot run here, or nil when it can.
    public static var unavailableReason: String? {
        if !FileManager.default.isExecutableFile(atPath: sshdPath) { return "\(sshdPath) missing (run scripts/bootstrap)" }
        let missing = clients.filter { (try? Shell.which($0)) == nil }
        return missing.isEmpty ? nil : "\(missing.joined(separator: ", ")) missing (run scripts/bootstrap)"
    }

    public static var isAvailable: Bool { unavailableReason == nil }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    public let host = "127.0.0.1"
    public private(set) var port = 0
    public let user: String
    public let directory: String
    public let clientKey: String
    public var logPath: String { directory + "/sshd.log" }

    private let lock = NSLock()
    private var server: SupervisedProcess?

    /// `/run/sshd`, the privilege separation dir that sshd (and `sshd -t`) require: the package's systemd unit makes it
    /// at boot (RuntimeDirectory), but a machine whose sshd never ran as a service has none.
    static func makePrivilegeSeparationDirectory() throws {
        guard getuid() == 0, !FileManager.default.fileExists(atPath: "/run/sshd") else { return }
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
    }

    /// Generates the keys and config, starts sshd and waits until it runs a real `ssh … true`.
    public init() throws {
        directory = try TempDir("inboxd-sshd").path
        clientKey = directory + "/client_key"
        user = String(cString: getpwuid(getuid()).pointee.pw_name)
        try Self.keygen(directory + "/host_key")
        try Self.keygen(clientKey)
        try FileManager.default.copyItem(atPath: clientKey + ".pub", toPath: directory + "/authorized_keys")
        try Self.makePrivilegeSeparationDirectory()
        // The port was free a moment ago; should another process take it before sshd binds, try another.
        var lastError: Error?
        for _ in 0..<3 {
            do {
                try start(port: FreePort.next())
                return
            } catch {
                lastError = error
                stop()
            }
        }
        throw lastError!
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func keygen(_ path: String) throws {
        let r = try Shell.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "inboxd-test", "-f", path])
        guard r.status == 0 else { throw Failure("ssh-keygen -f \(path) failed: \(r.stderr)") }
    }

    private func start(port: Int) throws {
        let config = """
            ListenAddress \(host):\(port)
            AddressFamily inet
            HostKey \(directory)/host_key
            PidFile \(directory)/sshd.pid
            AuthorizedKeysFile \(directory)/authorized_keys
            AuthenticationMethods publickey
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            AllowUsers \(user)
            StrictModes no
            UsePAM no
            PrintMotd no
            PrintLastLog no
            X11Forwarding no
            AllowTcpForwarding no
            AllowAgentForwarding no
            PermitTunnel no
            UseDNS no
            MaxStartups 64
            Subsystem sftp internal-sftp
            LogLevel INFO

            """
        let configPath = directory + "/sshd_config"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let check = try Shell.run(Self.sshdPath, ["-t", "-f", configPath])
        guard check.status == 0 else { throw Failure("sshd -t rejected \(configPath): \(check.stderr)") }

        let server = try SupervisedProcess([Self.sshdPath, "-D", "-e", "-f", configPath], logPath: logPath)
        lock.withLock {
            self.server = server
            self.port = port
        }
        try waitUntilReady(server)
    }

    /// Polls until a real login runs `true`, or sshd exits, or 20 s pass.
    private func waitUntilReady(_ server: SupervisedProcess) throws {
        let deadline = Date().addingTimeInterval(20)
        var last = ""
        while Date() < deadline {
            if !server.isRunning {
                throw Failure("sshd exited (status \(server.terminationStatus)) before accepting a login:\n\(log())")
            }
            let r = try ssh("true")
            if r.status == 0 { return }
            last = r.stderr
            usleep(100_000)
        }
        throw Failure("sshd on \(host):\(port) did not run `ssh … true` within 20 s; ssh said: \(last)\nsshd:\n\(log())")
    }

    /// Stops sshd (SIGTERM through the watchdog) and waits until it exited; the keys stay until deinit.
    public func stop() {
        let server = lock.withLock { () -> SupervisedProcess? in
            defer { self.server = nil }
            return self.server
        }
        guard let server, !server.stop() else { return }
        // The watchdog had to be killed: make sure sshd goes too.
        if let pid = try? String(contentsOfFile: directory + "/sshd.pid", encoding: .utf8),
           let n = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(n, SIGKILL)
        }
    }

    /// sshd's own log (`-e`: everything it would send to syslog).
    public func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    // MARK: clients

    /// Options every client shares: this key only, no config file, no host-key prompt or record, no questions.
    public var commonOptions: [String] {
        ["-F", "/dev/null", "-i", clientKey, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]
    }

    /// The ssh command line for `rsync -e` (rsync splits it on spaces; the paths have none).
    public var sshCommand: String { (["ssh"] + commonOptions + ["-p", "\(port)"]).joined(separator: " ") }

    /// `user@127.0.0.1:path`, the remote side of scp and rsync.
    public func remote(_ path: String) -> String { "\(user)@\(host):\(path)" }

    /// Runs `command` in a login on the server.
    public func ssh(_ command: String) throws -> Shell.Result {
        try Shell.run("ssh", commonOptions + ["-p", "\(port)", "\(user)@\(host)", command])
    }

    /// `scp [-O] FILES user@127.0.0.1:DIR/`: OpenSSH 9's default speaks SFTP to the server; `legacy` (-O) runs the
    /// old `scp -t` protocol, as older clients and many scripts still do.
    public func scp(_ files: [String], to remoteDirectory: String, legacy: Bool = false) throws -> Shell.Result {
        try Shell.run("scp", (legacy ? ["-O"] : []) + commonOptions + ["-P", "\(port)"] + files
                      + [remote(remoteDirectory + "/")])
    }

    /// `sftp -b BATCH user@127.0.0.1:DIR`: the batch's commands run with DIR as the remote working directory.
    /// `limitKbps` is sftp's `-l` (Kbit/s), to make a transfer take a while.
    public func sftp(batch commands: [String], in remoteDirectory: String, limitKbps: Int? = nil) throws -> Shell.Result {
        let batch = directory + "/batch-\(UUID().uuidString.prefix(8))"
        try (commands.joined(separator: "\n") + "\n").write(toFile: batch, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: batch) }
        let limit = limitKbps.map { ["-l", "\($0)"] } ?? []
        return try Shell.run("sftp", commonOptions + limit + ["-P", "\(port)", "-b", batch, remote(remoteDirectory)])
    }

    /// `rsync -e "ssh …" [extra] FILES user@127.0.0.1:DIR/`; rsync writes each file as `.NAME.XXXXXX` and renames it.
    public func rsync(_ files: [String], to remoteDirectory: String, extra: [String] = []) throws -> Shell.Result {
        try Shell.run("rsync", ["-e", sshCommand] + extra + files + [remote(remoteDirectory + "/")])
    }
}
