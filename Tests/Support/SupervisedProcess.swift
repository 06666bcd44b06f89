import Foundation

/// A test server (weed, sshd) run under a small python3 watchdog. The server's stdout and stderr go to `logPath`;
/// closing the watchdog's stdin (`stop()`, or the test process dying) makes it stop the server: SIGTERM, then SIGKILL
/// after 5 s. So a crashed test run never leaves a server behind.
///
/// The watchdog reaps the server with waitpid (a shell's `wait` can hang: children of the test process start with
/// SIGCHLD blocked) and starts it with an empty signal mask, so servers that reap their own children on SIGCHLD
/// (sshd's sessions) work.
final class SupervisedProcess: @unchecked Sendable {
    private static let watchdog = """
        import signal, subprocess, sys, threading
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        log = open(sys.argv[1], "ab")
        child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        def stop():
            sys.stdin.read()
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
        threading.Thread(target=stop, daemon=True).start()
        sys.exit(child.wait())
        """

    private let process = Process()
    private let stdin = Pipe()

    /// Starts `command` (its first element found on PATH, or an absolute path).
    init(_ command: [String], logPath: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.watchdog, logPath] + command
        process.standardInput = stdin
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var terminationStatus: Int32 { process.terminationStatus }

    /// Asks the watchdog to stop the server and waits for both to exit. Returns false when they had to be killed
    /// after `timeout` seconds (the server may then outlive the watchdog).
    @discardableResult
    func stop(timeout: Double = 15) -> Bool {
        try? stdin.fileHandleForWriting.close()
        // Foundation's waitUntilExit spins a run loop; poll gently instead.
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        guard process.isRunning else { return true }
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { usleep(20_000) }
        return false
    }
}
