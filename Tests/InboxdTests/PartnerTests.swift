import Foundation
import TestSupport
import Testing

/// Partner accounts made by `inboxd partner add`, used the way a partner would, against the servers configured by the
/// packaged files (`PartnerServers`: a private sshd including `packaging/sshd/inboxd-sftp.conf`, `rsync --daemon`
/// reading `packaging/rsyncd/inboxd-rsyncd.conf`). The daemon runs as its own unprivileged user inside a user
/// namespace that maps only that user, as the packaged unit's `User=inboxd` + `PrivateUsers=yes` do: partners'
/// files show up as owned by `nobody`, and it must still read and claim them through the drop directory's group.
@Suite(.serialized, .enabled(if: PartnerServers.isAvailable, "\(PartnerServers.unavailableReason ?? "")"))
struct PartnerTests {
    private final class Rig: @unchecked Sendable {
        let cleanups = CleanupStack()
        let media: MediaFactory
        let servers: PartnerServers
        let d: DaemonHarness
        let daemonUser: String
        let daemonUID: uid_t
        let daemonGID: gid_t
        let scratch: String

        init() throws {
            do {
                media = try MediaFactory()
                scratch = try TempDir("inboxd-partner-keys").path
                cleanups.push { [scratch] in try? FileManager.default.removeItem(atPath: scratch) }
                servers = try PartnerServers(cleanups: cleanups)
                let user = "itd" + UUID().uuidString.lowercased().prefix(6)
                daemonUser = user
                try Self.must("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                                          "--shell", "/usr/sbin/nologin", user])
                cleanups.push { _ = try? Shell.run("userdel", [user]) }
                guard let pw = getpwnam(user) else { throw HarnessError.timeout("useradd made no user \(user)") }
                daemonUID = pw.pointee.pw_uid
                daemonGID = pw.pointee.pw_gid
                var options = DaemonHarness.Options()
                options.extraTOML = servers.partnersTOML
                options.launcher = ["setpriv", "--reuid=\(daemonUID)", "--regid=\(daemonGID)", "--init-groups",
                                    "unshare", "--user", "--map-current-user", "--"]
                d = try DaemonHarness(options)
                cleanups.push { [d] in d.cleanUp() }
                // As the package lays it out: everything the daemon's, the data dir closed to others.
                try Self.must("chown", ["-R", "\(daemonUID):\(daemonGID)", d.root])
                try Self.must("chmod", ["0750", d.root])
                try d.start()
            } catch {
                cleanups.runAll()
                throw error
            }
        }

        func cleanUp() { cleanups.runAll() }

        static func must(_ tool: String, _ args: [String]) throws {
            let r = try Shell.run(tool, args)
            guard r.status == 0 else { throw HarnessError.timeout("\(tool) \(args.joined(separator: " ")) failed: \(r.stderr)") }
        }

        /// `inboxd partner add` with a fresh ed25519 key; removed again by the rig's cleanup whatever happens.
        func addPartner(_ suffix: String = "", sftp: Bool = true, rsync: Bool = true) throws -> PartnerClient {
            let name = "p" + UUID().uuidString.lowercased().prefix(6) + suffix
            let key = scratch + "/" + name
            try Self.must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key])
            cleanups.push { [d] in
                _ = try? d.cli(["partner", "remove", name])
                if getpwnam(name) != nil { _ = try? Shell.run("userdel", [name]) }
            }
            let r = try d.cli(["partner", "add", name] + (sftp ? ["--key", key + ".pub", "--sftp"] : []) + (rsync ? ["--rsync"] : []))
            guard r.status == 0 else { throw HarnessError.timeout("partner add \(name) failed: \(r.stderr)") }
            let passwordFile = scratch + "/" + name + ".secret"
            if rsync {
                let secret = try #require(r.stdout.split(separator: "\n").last.map(String.init))
                #expect(secret.count == 64, "the secret is alone on the last line: \(r.stdout)")
                _ = FileManager.default.createFile(atPath: passwordFile, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600])
            }
            let uid = try #require(getpwnam(name)).pointee.pw_uid
            return PartnerClient(name: name, uid: uid, privateKey: key, passwordFile: passwordFile, servers: servers)
        }

        func dropDirectory(_ p: PartnerClient) -> String { d.incoming + "/" + p.name }

        /// A short clip copied to `name` and its sidecar `name.json` (with the clip's sha256, so a job only gets
        /// ready when the bytes that arrived are the clip's bytes).
        func clip(_ name: String, title: String, seconds: Double = 2, width: Int = 320, height: Int = 240) throws
            -> (media: String, sidecar: String, size: Int) {
            let dir = media.path(UUID().uuidString)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let src = try media.h264AAC(seconds: seconds, width: width, height: height, name: "src-\(UUID().uuidString.prefix(8)).mp4")
            try FileManager.default.copyItem(atPath: src, toPath: dir + "/" + name)
            let sha = try Shell.run("sha256sum", [dir + "/" + name]).stdout.split(separator: " ")[0]
            try d.writeSidecar(["title": title, "sha256": String(sha)], to: dir + "/" + name + ".json")
            let size = try #require(try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.size] as? Int)
            return (dir + "/" + name, dir + "/" + name + ".json", size)
        }

        /// The job titled `title` ends ready, owned by the partner, claimed once, with exactly `size` bytes.
        @discardableResult
        func expectReadyOnce(title: String, partner: PartnerClient, size: Int) throws -> String {
            let id = try d.videoID(title: title)
            let j = try d.waitFor(id)
            #expect(j["status"] as? String == "ready", "\(j)\n\(d.logText().suffix(3000))")
            #expect(try d.sql("SELECT username FROM videos WHERE video_id='\(id)'") == partner.name)
            #expect(try d.sql("SELECT size_bytes FROM videos WHERE video_id='\(id)'") == "\(size)")
            #expect(try d.sql("SELECT count(*) FROM videos WHERE title='\(title)'") == "1")
            #expect(try d.sql("SELECT count(*) FROM events WHERE video_id='\(id)' AND message='claimed'") == "1")
            #expect(try d.sql("SELECT count(*) FROM events WHERE video_id='\(id)' AND status='ready'") == "1")
            #expect(!d.logText().contains("cannot watch user directory"), "\(d.logText().suffix(3000))")
            return id
        }

        /// Waits until no process of `uid` is left (an sshd session or rsync receiver ending after its client died).
        func waitUntilSessionsEnd(_ uid: uid_t) throws {
            let deadline = Date().addingTimeInterval(15)
            while try Shell.run("pgrep", ["--uid", "\(uid)"]).status == 0 {
                guard Date() < deadline else { throw HarnessError.timeout("uid \(uid) still has processes after 15 s") }
                usleep(50_000)
            }
        }
    }

    private func expectSuccess(_ r: Shell.Result, _ what: String, _ rig: Rig) {
        #expect(r.status == 0, "\(what) exited \(r.status): \(r.stderr)\nsshd:\n\(rig.servers.sshdLog().suffix(1500))\nrsyncd:\n\(rig.servers.rsyncdLog().suffix(1500))")
    }

    private func owner(_ path: String) -> (uid: uid_t, gid: gid_t, mode: mode_t)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_uid, st.st_gid, st.st_mode & 0o7777)
    }

    @Test func aPartnerPushesWithScpSftpAndRsyncAndEachDropIsReadyAndItsOwn() throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let p = try rig.addPartner()
        let dir = rig.dropDirectory(p)
        let dirOwner = try #require(owner(dir))
        #expect(dirOwner.uid == p.uid && dirOwner.gid == rig.daemonGID && dirOwner.mode == 0o2770, "\(dirOwner)")
        let list = try rig.d.cli(["partner", "list"])
        #expect(list.stdout.contains("\(p.name)\t\(p.uid)\tyes\tyes\tyes\t0\t\(dir)"), "\(list.stdout)\(list.stderr)")
        // Doctor counts the new partner directory among the watched ones (incoming/ + 1).
        let doctor = try rig.d.cli(["doctor"])
        #expect(doctor.stdout.contains("for 2 inbox directories"), "\(doctor.stdout)")

        let scp = try rig.clip("scp.mp4", title: "partner scp")
        expectSuccess(try p.scp([scp.media]), "scp media", rig)
        // Written by the partner's uid, into the daemon's group (set-group-id directory), readable by that group only.
        let arrived = try #require(owner(dir + "/scp.mp4"))
        #expect(arrived.uid == p.uid && arrived.gid == rig.daemonGID && arrived.mode == 0o640, "\(arrived)")
        expectSuccess(try p.scp([scp.sidecar]), "scp sidecar", rig)

        let sftp = try rig.clip("sftp.mp4", title: "partner sftp")
        expectSuccess(try p.sftp(["put \(sftp.media)", "put \(sftp.sidecar)"]), "sftp -b", rig)

        // rsync sends names in sorted order: the media before its sidecar. A 0600 file still arrives group-readable.
        let rs = try rig.clip("rsync.mp4", title: "partner rsync")
        chmod(rs.media, 0o600)
        expectSuccess(try p.rsync([rs.sidecar, rs.media]), "rsync to the module", rig)

        try rig.expectReadyOnce(title: "partner scp", partner: p, size: scp.size)
        try rig.expectReadyOnce(title: "partner sftp", partner: p, size: sftp.size)
        try rig.expectReadyOnce(title: "partner rsync", partner: p, size: rs.size)
        #expect(FileSystemView.files(in: dir).isEmpty, "left behind: \(FileSystemView.files(in: dir))")
    }

    @Test func aPartnerCannotReachOtherDropsTheInboxTheOutputOrTheDbNorGetAShellOrForwardPorts() throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let a = try rig.addPartner("a"), b = try rig.addPartner("b")
        let secretOfB = rig.dropDirectory(b) + "/b-secret.mp4"
        try Data("not for a".utf8).write(to: URL(fileURLWithPath: secretOfB))
        chown(secretOfB, b.uid, rig.daemonGID)
        chmod(secretOfB, 0o640)
        for dir in ["processing", "failed"] {
            try FileManager.default.createDirectory(atPath: rig.d.inbox + "/" + dir, withIntermediateDirectories: true)
        }

        // SFTP: the chroot shows only the partner's own /incoming; nothing of the host can be named.
        let root = try a.sftp(["ls -1 /"])
        let listed = root.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.hasPrefix("sftp>") }
        #expect(root.status == 0 && listed == ["/incoming"], "\(root)")
        let elsewhere = [rig.dropDirectory(b), "/incoming/../\(b.name)", rig.d.inbox + "/processing", rig.d.inbox + "/failed",
                         rig.d.output, rig.d.db, rig.d.root, "/etc"]
        for path in elsewhere {
            let ls = try a.sftp(["ls \(path)"])
            #expect(ls.status != 0, "sftp ls \(path) should fail: \(ls.stdout)")
        }
        for path in [secretOfB, "/incoming/../\(b.name)/b-secret.mp4", rig.d.db] {
            let get = try a.sftp(["get \(path) \(rig.scratch)/stolen"])
            #expect(get.status != 0, "sftp get \(path) should fail")
        }
        #expect(!FileManager.default.fileExists(atPath: rig.scratch + "/stolen"))

        // Outside the chroot too (what rsyncd's chroot stands on): the partner's uid can open none of it.
        let asA = ["setpriv", "--reuid=\(a.uid)", "--regid=\(getgrnam(rig.servers.group)!.pointee.gr_gid)", "--clear-groups"]
        for path in [rig.dropDirectory(b), rig.d.inbox + "/processing", rig.d.inbox + "/failed", rig.d.output, rig.d.incoming] {
            let r = try Shell.run("/usr/bin/env", asA + ["ls", path])
            #expect(r.status != 0 && r.stderr.contains("Permission denied"), "ls \(path) as \(a.name): \(r)")
        }
        for path in [secretOfB, rig.d.db] {
            let r = try Shell.run("/usr/bin/env", asA + ["cat", path])
            #expect(r.status != 0 && r.stderr.contains("Permission denied"), "cat \(path) as \(a.name): \(r)")
        }

        // rsync: a's secret opens no other module; modules are not listed; even its own module cannot be read.
        let other = try a.rsync([secretOfB], module: b.name)
        #expect(other.status != 0 && other.stderr.contains("auth failed"), "\(other)")
        let modules = try Shell.run("rsync", ["rsync://127.0.0.1:\(rig.servers.rsyncPort)/"])
        #expect(modules.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "module list: \(modules.stdout)")
        let read = try Shell.run("rsync", ["--password-file=\(a.passwordFile)", "rsync://\(a.name)@127.0.0.1:\(rig.servers.rsyncPort)/\(a.name)/"])
        #expect(read.status != 0 && read.stderr.contains("write only"), "\(read)")
        #expect(owner(secretOfB) != nil, "b's file is untouched")

        // No shell, no command, no tty: sshd only ever runs its SFTP server for a partner.
        for extra in [[a.login, "echo PWNED; touch /incoming/shell-was-here"], ["-tt", a.login, "echo PWNED"]] {
            let r = try a.ssh(extra)
            #expect(r.status != 0 && !r.stdout.contains("PWNED"), "ssh \(extra): \(r)")
        }
        #expect(!FileManager.default.fileExists(atPath: rig.dropDirectory(a) + "/shell-was-here"))

        // No forwarding: stdio forwarding (-W) to the daemon's port gets no HTTP answer, and a -L tunnel carries nothing.
        let w = try a.ssh(["-W", "127.0.0.1:\(rig.d.port)", a.login], input: Data("GET /healthz HTTP/1.0\r\n\r\n".utf8))
        #expect(w.status != 0 && !w.stdout.contains("HTTP/"), "ssh -W: \(w)")
        let localPort = FreePort.next()
        let tunnel = try SpawnedClient(["ssh"] + a.sshOptions + ["-p", "\(a.sshPort)", "-N", "-L",
                                                              "127.0.0.1:\(localPort):127.0.0.1:\(rig.d.port)", a.login])
        defer { tunnel.stop() }
        let deadline = Date().addingTimeInterval(15)
        var listening = false
        while !listening, tunnel.isRunning, Date() < deadline {
            listening = (try? RawConnection(port: localPort)) != nil
            if !listening { usleep(50_000) }
        }
        #expect(listening, "ssh -N -L did not come up: \(rig.servers.sshdLog().suffix(1500))")
        let through = try? HTTPClient.get("http://127.0.0.1:\(localPort)/healthz")
        #expect(through?.status != 200, "the -L tunnel reached the daemon")
        #expect(rig.servers.sshdLog().contains("refused local port forward"), "\(rig.servers.sshdLog().suffix(2000))")
        // The daemon itself was reachable all along.
        #expect(try HTTPClient.get(rig.d.baseURL + "/healthz").status == 200)
    }

    /// sftp keeps the mode of the partner's local file: one that is 0600 there arrives unreadable for the daemon's
    /// group. The job fails saying so, the original is kept in failed/<id>/; `chmod 640` in the same sftp session
    /// before the sidecar is the fix.
    @Test func anSftpFileTheDaemonCannotReadFailsSayingSoAndChmodInSftpFixesIt() throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let p = try rig.addPartner(sftp: true, rsync: false)
        let bad = try rig.clip("private.mp4", title: "sent 0600")
        chmod(bad.media, 0o600)
        expectSuccess(try p.sftp(["put \(bad.media)", "put \(bad.sidecar)"]), "sftp 0600 file", rig)
        let id = try rig.d.videoID(title: "sent 0600")
        let j = try rig.d.waitFor(id)
        #expect(j["status"] as? String == "failed")
        #expect(try rig.d.sql("SELECT failure_reason FROM videos WHERE video_id='\(id)'") == "io")
        let error = try rig.d.sql("SELECT error FROM videos WHERE video_id='\(id)'")
        #expect(error.hasSuffix("/private.mp4: Permission denied"), "\(error)")
        // Nothing lost: the admin makes it readable and retries it.
        let kept = rig.d.inbox + "/failed/\(id)/private.mp4"
        #expect(owner(kept)?.mode == 0o600)
        chmod(kept, 0o640)
        let retry = try rig.d.cli(["retry", id])
        #expect(retry.status == 0, "\(retry)")
        #expect(try rig.d.waitFor(id, ["ready"])["status"] as? String == "ready")

        let fixed = try rig.clip("fixed.mp4", title: "chmod in sftp")
        chmod(fixed.media, 0o600)
        expectSuccess(try p.sftp(["put \(fixed.media)", "chmod 640 fixed.mp4", "put \(fixed.sidecar)"]), "sftp put, chmod, sidecar", rig)
        try rig.expectReadyOnce(title: "chmod in sftp", partner: p, size: fixed.size)
    }

    /// rsync --partial keeps what arrived when the transfer dies (renamed into place: a complete-looking file with
    /// no sidecar yet, so nothing is claimed); the rerun sends only the rest, then the sidecar makes it one job.
    @Test func anRsyncTransferKilledHalfwayAndResumedWithPartialIsClaimedOnceComplete() throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let p = try rig.addPartner(sftp: false, rsync: true)
        let dir = rig.dropDirectory(p)
        let c = try rig.clip("resume.mp4", title: "rsync resumed", seconds: 8, width: 640, height: 480)
        try Self.killHalfway(p.rsyncCommand([c.media], extra: ["--partial", "--bwlimit=400"]), size: c.size) {
            FileSystemView.files(in: dir).filter { $0.hasPrefix(".resume.mp4.") }.map { dir + "/" + $0 }
        }
        try rig.waitUntilSessionsEnd(p.uid)
        let partial = try #require(try? FileManager.default.attributesOfItem(atPath: dir + "/resume.mp4")[.size] as? Int,
                                   "rsync --partial kept no partial file: \(FileSystemView.files(in: dir))")
        #expect(partial > 0 && partial < c.size, "partial \(partial) of \(c.size)")
        #expect(try rig.d.sql("SELECT count(*) FROM videos") == "0", "a partial file without its sidecar is not a drop")

        expectSuccess(try p.rsync([c.media], extra: ["--partial"]), "rsync --partial (resumed)", rig)
        expectSuccess(try p.rsync([c.sidecar]), "rsync sidecar", rig)
        try rig.expectReadyOnce(title: "rsync resumed", partner: p, size: c.size)
        #expect(try rig.d.sql("SELECT count(*) FROM videos") == "1")
    }

    /// sftp writes in place: killed halfway, the file is closed short and waits (no sidecar); `reput` appends the
    /// rest, then the sidecar makes it one job with the clip's exact bytes (the sidecar's sha256 checks them).
    @Test func anSftpUploadKilledHalfwayAndResumedWithReputIsClaimedOnceComplete() throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let p = try rig.addPartner(sftp: true, rsync: false)
        let dir = rig.dropDirectory(p)
        let c = try rig.clip("reput.mp4", title: "sftp resumed", seconds: 8, width: 640, height: 480)
        let batch = rig.scratch + "/slow-put"
        try "put \(c.media)\n".write(toFile: batch, atomically: true, encoding: .utf8)
        try Self.killHalfway(p.sftpCommand(batch, limitKbps: 3200), size: c.size) { [dir + "/reput.mp4"] }
        try rig.waitUntilSessionsEnd(p.uid)
        let partial = try #require(try FileManager.default.attributesOfItem(atPath: dir + "/reput.mp4")[.size] as? Int)
        #expect(partial > 0 && partial < c.size, "partial \(partial) of \(c.size)")
        #expect(try rig.d.sql("SELECT count(*) FROM videos") == "0")

        expectSuccess(try p.sftp(["reput \(c.media) reput.mp4", "put \(c.sidecar)"]), "sftp reput + sidecar", rig)
        try rig.expectReadyOnce(title: "sftp resumed", partner: p, size: c.size)
        #expect(try rig.d.sql("SELECT count(*) FROM videos") == "1")
    }

    /// Every refusal of `partner add`/`remove` names its cause and leaves nothing behind; `remove` ends the account
    /// but keeps its drops, which the daemon still claims.
    @Test func partnerAddRefusesBadInputAndRemoveKeepsTheDrops() throws {
        let rig = try Rig()
        defer { rig.cleanUp() }
        let name = "p" + UUID().uuidString.lowercased().prefix(6) + "x"
        let key = rig.scratch + "/k"
        try Rig.must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
        try "ssh-ed25519 not-base64 x\n".write(toFile: rig.scratch + "/garbage.pub", atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["add", "Bad!", "--rsync"], "partner name 'Bad!' must be"),
            (["add", name], "give --sftp, --rsync or both"),
            (["add", name, "--sftp"], "--sftp needs --key"),
            (["add", name, "--rsync", "--key", key + ".pub"], "--key is for SFTP logins"),
            (["add", name, "--sftp", "--key", key], "holds a private key"),
            (["add", name, "--sftp", "--key", rig.scratch + "/garbage.pub"], "line 1 is not an OpenSSH public key"),
            (["add", name, "--sftp", "--key", rig.scratch + "/missing.pub"], "cannot read key file"),
            (["add", "root", "--rsync"], "a system user 'root' already exists"),
            (["remove", "root"], "'root' is not an inboxd partner"),
            (["remove", name], "'\(name)' is not an inboxd partner"),
        ]
        for (args, message) in cases {
            let r = try rig.d.cli(["partner"] + args)
            #expect(r.status == 1 && r.stderr.contains(message), "partner \(args): \(r)")
        }
        // sshd would refuse a chroot below a world-writable directory: refused before anything is made.
        let badConfig = rig.scratch + "/bad.toml"
        try """
            inbox = "\(rig.d.inbox)"
            [partners]
            group = "\(rig.servers.group)"
            chroot_root = "\(rig.scratch)/chroot"
            ssh_keys_dir = "\(rig.servers.sshKeysDirectory)"
            """.write(toFile: badConfig, atomically: true, encoding: .utf8)
        chmod(rig.scratch, 0o777)
        let r = try Shell.run(DaemonHarness.binary, ["partner", "add", name, "--sftp", "--key", key + ".pub", "--config", badConfig])
        #expect(r.status == 1 && r.stderr.contains("sshd refuses a chroot") && r.stderr.contains("world-writable"), "\(r)")
        #expect(getpwnam(name) == nil, "a refused add made a user")
        #expect(FileSystemView.files(in: rig.servers.sshKeysDirectory).isEmpty && FileSystemView.files(in: rig.d.incoming).isEmpty)

        // A drop half-sent when the partner is removed: kept, handed to the daemon's user, claimed once complete.
        let p = try rig.addPartner()
        let c = try rig.clip("kept.mp4", title: "kept after remove")
        expectSuccess(try p.sftp(["put \(c.media)"]), "sftp put", rig)
        let layoutDir = rig.servers.chrootRoot + "/" + p.name
        // An open session (ssh -N: logged in, no channel) does not keep the account alive.
        let session = try SpawnedClient(["ssh"] + p.sshOptions + ["-p", "\(p.sshPort)", "-N", p.login])
        defer { session.stop() }
        let loggedIn = Date().addingTimeInterval(15)
        while try Shell.run("pgrep", ["--uid", "\(p.uid)"]).status != 0, session.isRunning, Date() < loggedIn { usleep(50_000) }
        #expect(try Shell.run("pgrep", ["--uid", "\(p.uid)"]).status == 0, "the partner's session did not start: \(rig.servers.sshdLog().suffix(1500))")
        let removed = try rig.d.cli(["partner", "remove", p.name])
        #expect(removed.status == 0 && removed.stdout.contains("kept \(rig.dropDirectory(p)) (1 file(s)"), "\(removed)")
        #expect(getpwnam(p.name) == nil)
        let ended = Date().addingTimeInterval(10)
        while session.isRunning, Date() < ended { usleep(50_000) }
        #expect(!session.isRunning, "the partner's open session survived its removal")
        #expect(!PartnerServers.mountPoints().contains(layoutDir + "/incoming"))
        #expect(!FileManager.default.fileExists(atPath: layoutDir))
        #expect(FileSystemView.files(in: rig.servers.sshKeysDirectory).isEmpty)
        #expect(FileSystemView.files(in: rig.servers.rsyncdDirectory).isEmpty)
        #expect(FileSystemView.files(in: rig.servers.mountUnitDirectory).filter { $0.hasSuffix(".mount") }.isEmpty)
        #expect(FileSystemView.files(in: rig.servers.mountUnitDirectory + "/local-fs.target.wants").isEmpty)
        let list = try rig.d.cli(["partner", "list"])
        #expect(!list.stdout.contains(p.name))
        let kept = try #require(owner(rig.dropDirectory(p) + "/kept.mp4"))
        #expect(kept.uid == rig.daemonUID && kept.gid == rig.daemonGID, "\(kept)")
        let login = try p.sftp(["ls"])
        #expect(login.status != 0, "a removed partner can still log in")
        try FileManager.default.copyItem(atPath: c.sidecar, toPath: rig.dropDirectory(p) + "/kept.mp4.json")
        try rig.expectReadyOnce(title: "kept after remove", partner: p, size: c.size)
    }

    /// Starts `command`, waits until the server-side file(s) `watch` returns hold at least a third of `size` bytes,
    /// then kills the client with SIGKILL (a dropped connection, as far as the server can tell).
    private static func killHalfway(_ command: [String], size: Int, watch: () -> [String]) throws {
        let p = try SpawnedClient(command)
        let deadline = Date().addingTimeInterval(60)
        var seen = 0
        while Date() < deadline, p.isRunning {
            seen = watch().compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }.max() ?? 0
            if seen >= size / 3 { break }
            usleep(20_000)
        }
        guard p.isRunning else {
            throw HarnessError.timeout("\(command[0]) ended before a third of \(size) bytes arrived (saw \(seen))")
        }
        p.stop()
        #expect(seen < size, "the transfer should have been cut short")
    }
}

/// Directory listings for assertions: names (dot-files included) of the entries in `dir`, none when it is missing.
private enum FileSystemView {
    static func files(in dir: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    }
}
