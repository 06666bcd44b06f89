import ArgumentParser
import Foundation
import Logging

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the daemon (flags override the config file).")

    @OptionGroup var common: CommonOptions
    @Option(help: "Inbox directory.") var inbox: String?
    @Option(help: "Local output directory (used when no [s3] is configured).") var output: String?
    @Option(help: "Listen address, HOST:PORT.") var listen: String?
    @Option(help: "Number of jobs processed at once.") var workers: Int?
    @Option(name: .customLong("job-time-limit"), help: "Seconds one processing attempt may take.") var jobTimeLimit: Double?

    func run() async throws {
        var config: Config
        do { config = try common.load() } catch { throw fail(error) }
        if let inbox { config.inbox = absolute(inbox) }
        if let output { config.output = absolute(output) }
        if let listen {
            guard let a = ListenAddress(listen) else { throw fail(ConfigError.badValue(key: "--listen", reason: "expected HOST:PORT")) }
            config.listen = a
        }
        if let workers {
            guard workers >= 1 else { throw fail(ConfigError.badValue(key: "--workers", reason: "must be ≥ 1")) }
            config.workers = workers
        }
        if let jobTimeLimit { config.jobTimeLimitSeconds = jobTimeLimit }
        LogSetup.bootstrap(level: config.logLevel)
        let logger = Logger(label: "inboxd")
        do {
            try await Daemon(config: config, logger: logger).run()
        } catch {
            logger.critical("inboxd stopped: \(plainDescription(error))")
            throw fail(error)
        }
    }
}
