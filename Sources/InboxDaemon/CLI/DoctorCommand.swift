import ArgumentParser
import Foundation
import Logging
import Pipeline

/// `inboxd doctor`: what an operator runs first, as the service user. One line per check, `ok` or `FAIL` with the
/// fix; exit status 1 when anything is wrong. Read-only: creates, migrates and binds nothing it keeps.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the config, directories, free space, db, inotify limits, encoders, S3, the watch page's player files and the listen port.")

    @OptionGroup var common: CommonOptions

    func run() throws {
        let config: Config
        do {
            config = try common.load()
        } catch {
            print(Finding.fail("config", plainDescription(error), fix: "fix the config file (README, \"Configuration\")").line)
            throw ExitCode.failure
        }
        print(Finding.ok("config parses").line)
        var findings = DirectoryCheck.findings(config)
        findings += FreeSpaceCheck.findings(config)
        if let store = config.store {
            // The shared store's reachability is checked by every node at start (and by `inboxd status`).
            findings.append(.ok("store is PostgreSQL \(Daemon.redacted(store.url)), node \(store.node) (not opened by doctor)"))
        } else {
            findings.append(DatabaseCheck.finding(config.db))
        }
        findings.append(InotifyCheck.finding(incoming: InboxLayout(root: config.inbox).incoming))
        for (label, names) in EncoderCatalog.required {
            findings.append(names.contains(where: EncoderCatalog.has)
                ? Finding.ok("encoder \(label)")
                : Finding.fail("encoder \(label)", "this libav build has none of \(names.joined(separator: ", "))",
                               fix: "install Debian's libavcodec59 (it has libx264 and aac), not a stripped-down build"))
        }
        if let s3 = config.s3 {
            Curl.globalInit()
            let what = "s3 bucket \(s3.bucket) at \(s3.endpoint)"
            if let problem = S3BucketCheck.problem(s3, logger: Logger(label: "inboxd.doctor")) {
                findings.append(.fail(what, problem, fix: "check [s3] endpoint, bucket and credentials (a signed ListObjectsV2 was refused)"))
            } else {
                findings.append(.ok("\(what) (signed ListObjectsV2 ok)"))
            }
        }
        findings.append(WebAssetsCheck.finding(config.webAssetsDir))
        findings.append(ListenCheck.finding(config.listen))
        for finding in findings { print(finding.line) }
        if findings.contains(where: { !$0.isOK }) { throw ExitCode.failure }
    }
}
