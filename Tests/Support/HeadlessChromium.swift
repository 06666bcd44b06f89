import Foundation

/// Debian's `chromium`, headless, driven over the DevTools protocol by `fixtures/cdp.py` (PyPI websocket-client):
/// what the playback tests use to load the watch page as a browser does. DevTools listens on 127.0.0.1 only, on a
/// port Chromium picks itself (`DevToolsActivePort`). `--no-sandbox`: the sandbox needs user namespaces or a setuid
/// helper that containers and root do not give; the pages it loads are the test's own. Its temporary files go to
/// its own profile directory (TMPDIR), so it runs as any user whatever /tmp allows. Runs under `SupervisedProcess`,
/// so a crashed test run never leaves a browser behind.
public final class HeadlessChromium: @unchecked Sendable {
    public let profile: TempDir
    public let port: Int
    private let process: SupervisedProcess
    private static let client = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("fixtures/cdp.py").path

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// `user`: run it as that (unprivileged) user through setpriv; the test process must be root then.
    public init(user: String? = nil) throws {
        profile = try TempDir("inboxd-chromium")
        var command = ["env", "HOME=\(profile.path)", "TMPDIR=\(profile.path)"]
        if let user {
            guard let pw = getpwnam(user) else { throw Failure(description: "no user \(user)") }
            guard chown(profile.path, pw.pointee.pw_uid, pw.pointee.pw_gid) == 0 else { throw Failure(description: "chown \(profile.path): errno \(errno)") }
            command = ["setpriv", "--reuid=\(pw.pointee.pw_uid)", "--regid=\(pw.pointee.pw_gid)", "--clear-groups"] + command
        }
        process = try SupervisedProcess(command + [
            try Shell.which("chromium"), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--window-size=1280,800",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir=\(profile.path)", "about:blank",
        ], logPath: profile.path + "/chromium.log")
        let portFile = profile.path + "/DevToolsActivePort"
        let deadline = Date().addingTimeInterval(30)
        var found: Int?
        while found == nil, Date() < deadline, process.isRunning {
            found = (try? String(contentsOfFile: portFile, encoding: .utf8))?.split(separator: "\n").first.flatMap { Int($0) }
            if found == nil { usleep(50_000) }
        }
        guard let found else {
            let log = (try? String(contentsOfFile: profile.path + "/chromium.log", encoding: .utf8)) ?? ""
            process.stop()
            profile.remove()
            throw Failure(description: "chromium did not open its DevTools port within 30 s:\n\(log.suffix(3000))")
        }
        port = found
    }

    /// Loads `url` in the page and waits until its document is complete.
    public func navigate(_ url: String) throws {
        _ = try run(["navigate", url])
    }

    /// The value of a JavaScript expression in the page (JSON-decoded; nil for null/undefined).
    public func evaluate(_ expression: String) throws -> Any? {
        try run(["eval", expression])
    }

    /// Polls until the expression is truthy; throws with its last value after `seconds`.
    @discardableResult
    public func wait(for expression: String, seconds: Double) throws -> Any? {
        try run(["wait", expression, String(seconds)])
    }

    /// A PNG of the page at `path`.
    public func screenshot(to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = try run(["screenshot", path])
    }

    public func stop() {
        process.stop()
        profile.remove()
    }

    private func run(_ arguments: [String]) throws -> Any? {
        let r = try Shell.run("python3", [Self.client, String(port)] + arguments)
        guard r.status == 0 else {
            throw Failure(description: "cdp.py \(arguments.joined(separator: " ")): exit \(r.status): \(r.stderr.suffix(2000)) \(r.stdout.suffix(500))")
        }
        let value = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8), options: [.fragmentsAllowed])
        return value is NSNull ? nil : value
    }
}

/// Where tests leave files for a person to look at (screenshots): `$INBOXD_TEST_OUTPUT`, else `.build/test-output`
/// in the source tree.
public enum TestOutput {
    public static func path(_ name: String) -> String {
        let base = ProcessInfo.processInfo.environment["INBOXD_TEST_OUTPUT"] ?? DaemonHarness.repositoryRoot + "/.build/test-output"
        return (base as NSString).appendingPathComponent(name)
    }
}
