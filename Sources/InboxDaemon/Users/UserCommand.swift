import ArgumentParser
import Foundation
import Logging
import Store

/// `inboxd user add|modify|list|revoke`: who may upload (`--upload`) and list every job (`--admin`), and each user's
/// queue limits (README, "Queue management").
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage the users whose bearer tokens the HTTP receiver and status API accept.",
        subcommands: [Add.self, Modify.self, List.self, Revoke.self])

    /// The per-user limits, for `add` and `modify`. A limit takes a number (0 = unlimited) or `default` (the config's).
    struct LimitOptions: ParsableArguments {
        @Option(help: "Highest job priority the user may ask for (higher asks are capped; default 0).")
        var maxPriority: Int?
        @Option(help: "Jobs of the user running at once: N (0 = unlimited) or 'default'.")
        var maxRunningJobs: Limit?
        @Option(help: "Jobs of the user in processing before uploads get 429 and drops wait: N (0 = unlimited) or 'default'.")
        var maxQueuedJobs: Limit?
        @Option(help: "Uploads per minute: N (0 = unlimited) or 'default'.")
        var uploadsPerMinute: Limit?
        @Option(help: "Upload bytes per hour: N (0 = unlimited) or 'default'.")
        var uploadBytesPerHour: Limit?

        func changes() -> UserAdmin.Changes {
            var c = UserAdmin.Changes()
            c.maxPriority = maxPriority
            c.maxRunningJobs = maxRunningJobs.map { $0.value.map(Int.init) }
            c.maxQueuedJobs = maxQueuedJobs.map { $0.value.map(Int.init) }
            c.uploadsPerMinute = uploadsPerMinute.map { $0.value.map(Int.init) }
            c.uploadBytesPerHour = uploadBytesPerHour.map { $0.value }
            return c
        }
    }

    /// A limit's value: a count ≥ 0, or nil for `default`.
    struct Limit: ExpressibleByArgument {
        var value: Int64?
        init?(argument: String) {
            if argument == "default" {
                value = nil
            } else if let n = Int64(argument), n >= 0 {
                value = n
            } else {
                return nil
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user and print its token once, alone on the last line (only its SHA-256 is stored).")

        @OptionGroup var common: CommonOptions
        @Argument(help: "User name (letters, digits, '.', '_', '-').") var name: String
        @Flag(help: "May upload through the HTTP receiver.") var upload = false
        @Flag(help: "May list every job (GET /api/videos) and read /api/stats.") var admin = false
        @OptionGroup var limits: LimitOptions

        func run() async throws {
            do {
                let (upload, admin, limits) = (upload, self.admin, limits.changes())
                let (row, token) = try await withUserAdmin(common) {
                    try await $0.add(username: name, canUpload: upload, isAdmin: admin, limits: limits)
                }
                print("created user '\(row.username)' (id \(row.id ?? 0), upload \(row.canUpload ? "yes" : "no"), admin \(row.isAdmin ? "yes" : "no"))")
                print("token (shown only now; store it safely):")
                print(token)
            } catch { throw fail(error) }
        }
    }

    struct Modify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a user's flags and limits (the token stays the same).")

        @OptionGroup var common: CommonOptions
        @Argument(help: "User name.") var name: String
        @Flag(inversion: .prefixedNo, help: "May upload through the HTTP receiver.") var upload: Bool?
        @Flag(inversion: .prefixedNo, help: "Is an admin.") var admin: Bool?
        @OptionGroup var limits: LimitOptions

        func run() async throws {
            do {
                var changes = limits.changes()
                changes.canUpload = upload
                changes.isAdmin = admin
                let row = try await withUserAdmin(common) { [changes] in try await $0.modify(username: name, changes) }
                print("modified user '\(row.username)': \(List.describe(row))")
            } catch { throw fail(error) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users (tokens are never shown).")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            do {
                let users = try await withUserAdmin(common) { try await $0.list() }
                print("id\tusername\tupload\tadmin\tcreated_at\trevoked_at\tlimits")
                for u in users {
                    print("\(u.id ?? 0)\t\(u.username)\t\(u.canUpload ? "yes" : "no")\t\(u.isAdmin ? "yes" : "no")\t\(u.createdAt)\t\(u.revokedAt ?? "-")\t\(Self.limits(u))")
                }
            } catch { throw fail(error) }
        }

        static func limits(_ u: UserRow) -> String {
            func v<N>(_ n: N?) -> String { n.map { "\($0)" } ?? "default" }
            return "max_priority=\(u.maxPriority) max_running_jobs=\(v(u.maxRunningJobs)) max_queued_jobs=\(v(u.maxQueuedJobs)) "
                + "uploads_per_minute=\(v(u.uploadsPerMinute)) upload_bytes_per_hour=\(v(u.uploadBytesPerHour))"
        }

        static func describe(_ u: UserRow) -> String {
            "upload \(u.canUpload ? "yes" : "no"), admin \(u.isAdmin ? "yes" : "no"), \(limits(u))"
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a user's token at once (the row is kept for the audit trail).")
        @OptionGroup var common: CommonOptions
        @Argument(help: "User name.") var name: String

        func run() async throws {
            do {
                try await withUserAdmin(common) { try await $0.revoke(username: name) }
                print("revoked user '\(name)'")
            } catch { throw fail(error) }
        }
    }
}

/// Runs `body` on the users of the store the config names: the shared PostgreSQL store of `[store] url` (unless
/// `--db` names a SQLite file), else the SQLite file `db`.
func withUserAdmin<T: Sendable>(_ common: CommonOptions, _ body: @Sendable (any UserAdministering) async throws -> T) async throws -> T {
    let config = try common.load()
    if let shared = config.store, common.db == nil {
        return try await PGJobStore.with(url: shared.url, node: shared.node, leaseSeconds: shared.leaseSeconds,
                                         logger: Logger(label: "inboxd.store")) { try await body(PGUserAdmin(store: $0)) }
    }
    return try await body(UserAdmin(db: try StoreDatabase.openWriter(path: config.db)))
}
