import Foundation

/// The text of the files `inboxd partner add` writes: pure functions of the layout, so they are tested as text.
enum PartnerFiles {
    enum KeyProblem: Error, CustomStringConvertible {
        case privateKey(String)
        case empty(String)
        case malformed(file: String, line: Int)

        var description: String {
            switch self {
            case .privateKey(let f): "\(f) holds a private key; give the partner's public key (the .pub file)"
            case .empty(let f): "\(f) holds no public key"
            case .malformed(let f, let line): "\(f) line \(line) is not an OpenSSH public key ('TYPE BASE64 [comment]', e.g. ssh-ed25519 AAAA…)"
            }
        }
    }

    static let keyTypes: Set<String> = [
        "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ]

    /// The partner's authorized_keys: each public key of `text`, behind `restrict` (no forwarding, pty, agent, X11
    /// or rc file, whatever sshd's own config says). Options in the input are refused, not passed through.
    static func authorizedKeys(from text: String, file: String) throws -> String {
        if text.contains("PRIVATE KEY-----") { throw KeyProblem.privateKey(file) }
        var lines: [String] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard fields.count >= 2, keyTypes.contains(String(fields[0])), let blob = Data(base64Encoded: String(fields[1])),
                  blob.count > 4 + fields[0].utf8.count,
                  Int(blob[0]) << 24 | Int(blob[1]) << 16 | Int(blob[2]) << 8 | Int(blob[3]) == fields[0].utf8.count,
                  blob[4..<(4 + fields[0].utf8.count)].elementsEqual(fields[0].utf8) else {
                throw KeyProblem.malformed(file: file, line: i + 1)
            }
            lines.append("restrict " + fields.joined(separator: " "))
        }
        guard !lines.isEmpty else { throw KeyProblem.empty(file) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The systemd unit that re-creates the bind mount at boot.
    static func mountUnit(_ p: PartnerLayout) -> String {
        """
        # Written by `inboxd partner add \(p.name)`, removed by `inboxd partner remove \(p.name)`.
        # The partner's SFTP chroot shows only its drop directory, as /incoming.
        [Unit]
        Description=inboxd SFTP drop of partner \(p.name)
        Documentation=man:inboxd(1)

        [Mount]
        What=\(p.dropDirectory)
        Where=\(p.chrootIncoming)
        Type=none
        Options=bind,nosuid,nodev,noexec

        [Install]
        WantedBy=local-fs.target

        """
    }

    /// One rsyncd module, included by the packaged rsyncd file's `&include`. It may only write into the partner's
    /// drop directory, as the partner's uid, inside a chroot; it can neither list nor read, not even its own files.
    static func rsyncModule(_ p: PartnerLayout) -> String {
        """
        # Written by `inboxd partner add \(p.name)`, removed by `inboxd partner remove \(p.name)`.
        [\(p.name)]
            comment = inboxd drop of partner \(p.name)
            path = \(p.dropDirectory)
            use chroot = yes
            uid = \(p.name)
            gid = \(p.settings.group)
            read only = no
            write only = yes
            list = no
            auth users = \(p.name)
            secrets file = \(p.rsyncSecrets)
            strict modes = yes
            # The daemon reads drops through the directory's group (set-group-id): files arrive group-readable.
            incoming chmod = Fu+rw,Fg+r,Fg-wx,Fo-rwx,Du+rwx,Dg+rwx,Do-rwx
            refuse options = delete
            timeout = 600

        """
    }
}
