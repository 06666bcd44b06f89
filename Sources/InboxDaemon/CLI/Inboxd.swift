import ArgumentParser
import Foundation
import Logging

@main
struct Inboxd: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "inboxd",
        abstract: "A filesystem-watching inbox daemon for video: drop → claim → HLS → publish → SQLite.",
        version: "inboxd \(version)",
        subcommands: [RunCommand.self, RetryCommand.self, StatusCommand.self, ConvertCommand.self, PublishCommand.self, UserCommand.self, PartnerCommand.self,
                      WebhooksCommand.self, DoctorCommand.self, StatsCommand.self])
}

/// `--config` and `--db`, taken by every subcommand so admin commands find the daemon's db.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (default: $INBOXD_CONFIG, else /etc/inboxd/inboxd.toml).")
    var config: String?

    @Option(name: .long, help: "SQLite db file (overrides the config's `db`).")
    var db: String?

    func load() throws -> Config {
        let env = ProcessInfo.processInfo.environment
        let path = config ?? env["INBOXD_CONFIG"] ?? "/etc/inboxd/inboxd.toml"
        var c = try Config.load(path: path, environment: env)
        if let db { c.db = absolute(db) }
        return c
    }
}

func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
}

/// Logs are one line each with structured metadata (`job.id=…`), at the configured level: on stdout for the
/// daemon (journald), on stderr for admin commands whose stdout is their result.
enum LogSetup {
    static func bootstrap(level: String, toStandardError: Bool = false) {
        let lvl = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var h = toStandardError ? StreamLogHandler.standardError(label: label) : StreamLogHandler.standardOutput(label: label)
            h.logLevel = lvl
            return h
        }
    }
}

/// Turns a typed error into a one-line message and exit code 1 (ArgumentParser would print a usage block).
func fail(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("inboxd: \(plainDescription(error))\n".utf8))
    return ExitCode.failure
}
