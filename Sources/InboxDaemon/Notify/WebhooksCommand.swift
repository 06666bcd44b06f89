import ArgumentParser
import Foundation
import Logging
import Store

/// `inboxd webhooks list [--failed] | redeliver ID`: the outbox as admins see it, on the store the config names (the
/// shared PostgreSQL one of `[store] url` unless `--db` names a SQLite file).
struct WebhooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks", abstract: "Show webhook deliveries, or send one again.",
        subcommands: [List.self, Redeliver.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List deliveries, newest first (secrets and bodies are never shown).")
        @OptionGroup var common: CommonOptions
        @Flag(help: "Only deliveries that were given up.") var failed = false
        @Option(help: "At most this many rows.") var limit = 100

        func run() async throws {
            do {
                let config = try common.load()
                let failedOnly = failed, limit = max(self.limit, 1)
                let rows: [WebhookDeliveryRow]
                if let shared = config.store, common.db == nil {
                    rows = try await PGJobStore.with(url: shared.url, node: shared.node, leaseSeconds: shared.leaseSeconds,
                                                     logger: Logger(label: "inboxd.store")) {
                        try await $0.deliveries(failedOnly: failedOnly, limit: limit)
                    }
                } else {
                    let pool = try StoreDatabase.openWriter(path: config.db)
                    rows = try await pool.read { db in try WebhookQueries.list(db, failedOnly: failedOnly, limit: limit) }
                }
                print("id\tstate\tevent\tvideo_id\tattempts\tlast_status\twhen\turl\tlast_error")
                for r in rows {
                    let when = r.deliveredAt ?? r.nextAttemptAt ?? "-"
                    print("\(r.id ?? 0)\t\(r.state)\t\(r.event)\t\(r.videoID)\t\(r.attempts)\t\(r.lastStatus.map(String.init) ?? "-")\t\(when)\t\(r.url)\t\(r.lastError ?? "-")")
                }
            } catch { throw fail(error) }
        }
    }

    struct Redeliver: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a delivery again (same body and event id, a fresh retry window); the running daemon sends it within a second.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "Delivery id (from `inboxd webhooks list`).") var id: Int64

        func run() async throws {
            do {
                let config = try common.load()
                let id = self.id
                let now = Timestamp.string(), until = Timestamp.string(Date().addingTimeInterval(config.webhooks.retryHours * 3600))
                let found: Bool
                if let shared = config.store, common.db == nil {
                    found = try await PGJobStore.with(url: shared.url, node: shared.node, leaseSeconds: shared.leaseSeconds,
                                                      logger: Logger(label: "inboxd.store")) {
                        try await $0.redeliver(id, now: now, retryUntil: until)
                    }
                } else {
                    let pool = try StoreDatabase.openWriter(path: config.db)
                    found = try await pool.write { db in try WebhookQueries.redeliver(db, id: id, now: now, retryUntil: until) }
                }
                guard found else { throw ValidationError("no webhook delivery with id \(id)") }
                print("queued for redelivery: \(id)")
            } catch let e as ValidationError { throw fail(e) } catch { throw fail(error) }
        }
    }
}
