import Foundation
@testable import InboxDaemon
import Testing

/// What `inboxd partner add` writes, as text: the key file, the names it derives, the `[partners]` config table.
@Suite struct PartnerFilesTests {
    static let ed25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG7bilrfEzP/GZAE3jS/k26hankJpES9QHCIp9lhXbbe"

    @Test func publicKeysAreWrittenBehindRestrictAndCommentsAndBlankLinesAreDropped() throws {
        let text = "# alice's laptop\n\n\(Self.ed25519) alice@laptop\n  \(Self.ed25519)\n"
        let keys = try PartnerFiles.authorizedKeys(from: text, file: "alice.pub")
        #expect(keys == "restrict \(Self.ed25519) alice@laptop\nrestrict \(Self.ed25519)\n")
    }

    @Test(arguments: [
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n", "k holds a private key; give the partner's public key (the .pub file)"),
        ("\n# nothing\n", "k holds no public key"),
        ("command=\"/bin/sh\" \(ed25519)\n", "k line 1 is not an OpenSSH public key ('TYPE BASE64 [comment]', e.g. ssh-ed25519 AAAA…)"),
        ("ssh-ed25519 not-base64\n", "k line 1 is not an OpenSSH public key ('TYPE BASE64 [comment]', e.g. ssh-ed25519 AAAA…)"),
        // The blob names another key type than the line does.
        ("ssh-rsa \(ed25519.split(separator: " ")[1])\n", "k line 1 is not an OpenSSH public key ('TYPE BASE64 [comment]', e.g. ssh-ed25519 AAAA…)"),
        ("\(ed25519)\nssh-ed25519\n", "k line 2 is not an OpenSSH public key ('TYPE BASE64 [comment]', e.g. ssh-ed25519 AAAA…)"),
    ])
    func anythingButPlainPublicKeysIsRefused(text: String, message: String) {
        let e = #expect(throws: PartnerFiles.KeyProblem.self) { try PartnerFiles.authorizedKeys(from: text, file: "k") }
        #expect(e?.description == message)
    }

    /// The same names `systemd-escape --path` prints.
    @Test(arguments: [
        ("/srv/inboxd-drop/alice/incoming", "srv-inboxd\\x2ddrop-alice-incoming"), ("/", "-"), ("//a//.b/", "a-.b"),
        ("/.a", "\\x2ea"), ("/x y/é", "x\\x20y-\\xc3\\xa9"), ("/run/a_b:c", "run-a_b:c"),
    ])
    func mountUnitNamesAreSystemdEscapedPaths(path: String, escaped: String) {
        #expect(SystemdEscape.path(path) == escaped)
    }

    @Test(arguments: [("alice", true), ("a", true), ("acme-media_2", true), (String(repeating: "a", count: 32), true),
                      (String(repeating: "a", count: 33), false), ("Alice", false), ("1acme", false), ("-x", false),
                      ("", false), ("a.b", false), ("a/b", false), ("ä", false), ("global", false), ("globals", true)])
    func partnerNamesArePortableUserNames(name: String, valid: Bool) {
        #expect(PartnerLayout.isValidName(name) == valid)
    }

    @Test func theLayoutAndTheGeneratedFilesUseTheConfiguredPaths() throws {
        let dir = NSTemporaryDirectory() + "inboxd-partners-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            inbox = "/var/lib/inboxd/inbox"
            [partners]
            group = "drop"
            chroot_root = "chroots"
            rsyncd_dir = "/etc/r"
            """.write(toFile: dir + "/inboxd.toml", atomically: true, encoding: .utf8)
        let c = try Config.load(path: dir + "/inboxd.toml", environment: [:])
        #expect(c.partners == PartnerSettings(group: "drop", chrootRoot: dir + "/chroots", sshKeysDirectory: "/etc/inboxd/partners/ssh",
                                              rsyncdDirectory: "/etc/r", mountUnitDirectory: "/etc/systemd/system"))
        let p = PartnerAdmin(c).layout("acme")
        #expect(p.dropDirectory == "/var/lib/inboxd/inbox/incoming/acme")
        #expect(p.chrootIncoming == dir + "/chroots/acme/incoming")
        #expect(p.rsyncModule == "/etc/r/acme.conf" && p.rsyncSecrets == "/etc/r/acme.secrets")
        let module = PartnerFiles.rsyncModule(p)
        for line in ["[acme]", "path = /var/lib/inboxd/inbox/incoming/acme", "use chroot = yes", "uid = acme", "gid = drop",
                     "write only = yes", "list = no", "auth users = acme", "secrets file = /etc/r/acme.secrets"] {
            #expect(module.contains("\n    \(line)\n") || module.contains("\n\(line)\n"), "missing '\(line)' in\n\(module)")
        }
        let unit = PartnerFiles.mountUnit(p)
        #expect(unit.contains("What=/var/lib/inboxd/inbox/incoming/acme\nWhere=\(p.chrootIncoming)\nType=none\nOptions=bind,nosuid,nodev,noexec\n"))

        try "[partners]\nchroot = \"/x\"\n".write(toFile: dir + "/inboxd.toml", atomically: true, encoding: .utf8)
        let unknown = #expect(throws: ConfigError.self) { try Config.load(path: dir + "/inboxd.toml", environment: [:]) }
        #expect(unknown?.description == "unknown config key 'partners.chroot'")
        try "[partners]\ngroup = \"Drop Group\"\n".write(toFile: dir + "/inboxd.toml", atomically: true, encoding: .utf8)
        let bad = #expect(throws: ConfigError.self) { try Config.load(path: dir + "/inboxd.toml", environment: [:]) }
        #expect(bad?.description.hasPrefix("config key 'partners.group'") == true)
    }
}
