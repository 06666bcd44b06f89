import ArgumentParser
import Foundation
import Store

/// `inboxd user add|list|revoke`: who may upload (`--upload`) and list every job (`--admin`).
struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage the users whose bearer tokens the HTTP receiver and status API accept.",
        subcommands: [Add.self, List.self, Revoke.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user and print its token once, alone on the last line (only its SHA-256 is stored).")

        @OptionGroup var common: CommonOptions
        @Argument(help: "User name (letters, digits, '.', '_', '-').") var name: String
        @Flag(help: "May upload through the HTTP receiver.") var upload = false
        @Flag(help: "May list every job (GET /api/videos).") var admin = false

        func run() throws {
            do {
                let admin = UserAdmin(db: try StoreDatabase.openWriter(path: try common.load().db))
                let (row, token) = try admin.add(username: name, canUpload: upload, isAdmin: self.admin)
                print("created user '\(row.username)' (id \(row.id ?? 0), upload \(row.canUpload ? "yes" : "no"), admin \(row.isAdmin ? "yes" : "no"))")
                print("token (shown only now; store it safely):")
                print(token)
            } catch { throw fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users (tokens are never shown).")
        @OptionGroup var common: CommonOptions

        func run() throws {
            do {
                let users = try UserAdmin(db: try StoreDatabase.openWriter(path: try common.load().db)).list()
                print("id\tusername\tupload\tadmin\tcreated_at\trevoked_at")
                for u in users {
                    print("\(u.id ?? 0)\t\(u.username)\t\(u.canUpload ? "yes" : "no")\t\(u.isAdmin ? "yes" : "no")\t\(u.createdAt)\t\(u.revokedAt ?? "-")")
                }
            } catch { throw fail(error) }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a user's token at once (the row is kept for the audit trail).")
        @OptionGroup var common: CommonOptions
        @Argument(help: "User name.") var name: String

        func run() throws {
            do {
                try UserAdmin(db: try StoreDatabase.openWriter(path: try common.load().db)).revoke(username: name)
                print("revoked user '\(name)'")
            } catch { throw fail(error) }
        }
    }
}
