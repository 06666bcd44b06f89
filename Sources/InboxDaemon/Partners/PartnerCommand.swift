import ArgumentParser
import Foundation

/// `inboxd partner add|list|remove`: SFTP and rsync accounts that may only drop into their own `incoming/NAME`.
struct PartnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partner", abstract: "Manage SFTP and rsync partner accounts (as root) that drop into incoming/NAME.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a partner: system user, drop directory, SFTP chroot + key and/or rsync module + secret.")

        @OptionGroup var common: CommonOptions
        @Argument(help: "Partner name (a lower-case letter, then lower-case letters, digits, '_', '-'; at most 32).") var name: String
        @Option(help: "The partner's OpenSSH public key file (one or more keys), needed with --sftp.") var key: String?
        @Flag(help: "SFTP (and scp) logins with --key, chrooted to the drop directory.") var sftp = false
        @Flag(help: "An rsync daemon module with its own secret, printed once on the last line.") var rsync = false

        func run() throws {
            do {
                let admin = try PartnerAdmin(common.load())
                let (p, secret) = try admin.add(name: name, keyFile: key.map(absolute), sftp: sftp, rsync: rsync)
                let layout = admin.layout(p.name)
                print("created partner '\(p.name)' (uid \(p.uid), group \(admin.settings.group)); drops land in \(p.dropDirectory)")
                if sftp {
                    print("sftp:  sftp \(p.name)@HOST  (chroot \(layout.chroot), uploads go to /incoming; bind mount unit \(layout.mountUnitName))")
                }
                if let secret {
                    print("rsync: RSYNC_PASSWORD=… rsync FILE rsync://\(p.name)@HOST/\(p.name)/  (module in \(layout.rsyncModule))")
                    print("rsync secret (shown only now; give it to the partner):")
                    print(secret)
                }
            } catch { throw fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List partners: name, uid, sftp, rsync, bind mount, files waiting, drop directory.")
        @OptionGroup var common: CommonOptions

        func run() throws {
            do {
                let admin = try PartnerAdmin(common.load())
                print("name\tuid\tsftp\trsync\tmounted\tfiles\tdrop_directory")
                for p in admin.list() {
                    let yes = { (b: Bool) in b ? "yes" : "no" }
                    print("\(p.name)\t\(p.uid)\t\(yes(p.sftp))\t\(yes(p.rsync))\t\(p.sftp ? yes(p.mounted) : "-")\t\(p.files)\t\(p.dropDirectory)")
                }
            } catch { throw fail(error) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a partner's logins, sessions, bind mount, chroot and system user; its drop directory is kept.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "Partner name.") var name: String

        func run() throws {
            do {
                let kept = try PartnerAdmin(common.load()).remove(name: name)
                print("removed partner '\(name)'")
                print("kept \(kept.dropDirectory) (\(kept.files) file(s), now owned by the daemon's user); delete it yourself when it is not needed")
            } catch { throw fail(error) }
        }
    }
}

extension PartnerAdmin {
    init(_ config: Config) {
        self.init(settings: config.partners, incoming: InboxLayout(root: config.inbox).incoming)
    }
}
