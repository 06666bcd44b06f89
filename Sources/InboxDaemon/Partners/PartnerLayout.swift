/// Every path that belongs to one partner, from its name, the settings and the inbox. The drop directory
/// `incoming/NAME` names the drop's owner (DESIGN.md: a per-user subdirectory wins over the sidecar's `username`).
struct PartnerLayout: Sendable {
    let name: String
    let settings: PartnerSettings
    /// `<inbox>/incoming`.
    let incoming: String

    /// `^[a-z][a-z0-9_-]{0,31}$`: a portable system user name that is also an rsync module and a directory name
    /// (but not `global`, which rsyncd reads as its global section).
    static func isValidName(_ name: String) -> Bool {
        guard name != "global", let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.unicodeScalars.count <= 32 else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
    }

    var dropDirectory: String { incoming + "/" + name }
    var chroot: String { settings.chrootRoot + "/" + name }
    /// The mount point inside the chroot; the partner sees it as `/incoming`.
    var chrootIncoming: String { chroot + "/incoming" }
    var authorizedKeys: String { settings.sshKeysDirectory + "/" + name }
    var rsyncModule: String { settings.rsyncdDirectory + "/" + name + ".conf" }
    var rsyncSecrets: String { settings.rsyncdDirectory + "/" + name + ".secrets" }
    var mountUnitName: String { SystemdEscape.path(chrootIncoming) + ".mount" }
    var mountUnit: String { settings.mountUnitDirectory + "/" + mountUnitName }
    /// What `systemctl enable` would create.
    var mountUnitWantsLink: String { settings.mountUnitDirectory + "/local-fs.target.wants/" + mountUnitName }
}

/// `systemd-escape --path`: a mount unit must be named after its mount point.
enum SystemdEscape {
    static func path(_ path: String) -> String {
        let trimmed = path.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        guard !trimmed.isEmpty else { return "-" }
        var out = ""
        for (i, byte) in trimmed.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "/"): out += "-"
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: ":"), UInt8(ascii: "_"):
                out.append(Character(UnicodeScalar(byte)))
            case UInt8(ascii: ".") where i > 0: out += "."
            default: out += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        return out
    }
}
