import ArgumentParser
import Foundation
import Store

/// `inboxd webhooks list [--failed] | redeliver ID`: the outbox as admins see it.
struct WebhooksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks", abstract: "Show webhook deliveries, or send one again.",
        subcommands: [List.self, Redeliver.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List deliveries, newest first (secrets and bodies are never shown).")
        @OptionGroup var common: CommonOptions
        @Flag(help: "Only deliveries that were given up.") var failed = false
        @Option(help: "At most this many rows.") var limit = 100

        func run() throws {
            do {
                let pool = try StoreDatabase.openWriter(path: try common.sqliteDB(for: "webhooks"))
                let rows = try pool.read { db in try WebhookQueries.list(db, failedOnly: failed, limit: max(limit, 1)) }
                print("id\tstate\tevent\tvideo_id\tattempts\tlast_status\twhen\turl\tlast_error")
                for r in rows {
                    let when = r.deliveredAt ?? r.nextAttemptAt ?? "-"
                    print("\(r.id ?? 0)\t\(r.state)\t\(r.event)\t\(r.videoID)\t\(r.attempts)\t\(r.lastStatus.map(String.init) ?? "-")\t\(when)\t\(r.url)\t\(r.lastError ?? "-")")
                }
            } catch { throw fail(error) }
        }
    }

    struct Redeliver: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a delivery again (same body and event id, a fresh retry window); the running daemon sends it within a second.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "Delivery id (from `inboxd webhooks list`).") var id: Int64

        func run() throws {
            do {
                let config = try common.load()
                let pool = try StoreDatabase.openWriter(path: try common.sqliteDB(for: "webhooks"))
                let now = Date()
                let until = now.addingTimeInterval(config.webhooks.retryHours * 3600)
                let found = try pool.write { db in
                    try WebhookQueries.redeliver(db, id: id, now: Timestamp.string(now), retryUntil: Timestamp.string(until))
                }
                guard found else { throw ValidationError("no webhook delivery with id \(id)") }
                print("queued for redelivery: \(id)")
            } catch let e as ValidationError { throw fail(e) } catch { throw fail(error) }
        }
    }
}
