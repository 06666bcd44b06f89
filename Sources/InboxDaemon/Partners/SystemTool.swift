import Foundation

/// Runs the system's own account and mount tools (useradd, mount, …) for `inboxd partner`, so accounts and mounts are
/// made exactly as an admin would make them by hand. A tool that fails throws with its stderr.
enum SystemTool {
    struct Failure: Error, CustomStringConvertible {
        let command: String
        let status: Int32
        let stderr: String
        var description: String {
            "\(command) failed (exit \(status))\(stderr.isEmpty ? "" : ": " + stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }

    /// Runs `tool args…` and returns its exit status and stderr; `check` throws on a non-zero exit.
    @discardableResult
    static func run(_ tool: String, _ args: [String], check: Bool = true) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try locate(tool))
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let stderr = String(decoding: data, as: UTF8.self)
        if check && p.terminationStatus != 0 {
            throw Failure(command: ([tool] + args).joined(separator: " "), status: p.terminationStatus, stderr: stderr)
        }
        return (p.terminationStatus, stderr)
    }

    /// PATH first, then the sbin directories a plain user's PATH often lacks.
    private static func locate(_ tool: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            if FileManager.default.isExecutableFile(atPath: dir + "/" + tool) { return dir + "/" + tool }
        }
        throw Failure(command: tool, status: 127, stderr: "\(tool) not found (it comes with Debian's passwd and mount packages)")
    }

    /// Whether PID 1 is systemd (not in a chroot, container build or this test machine).
    static var systemdIsRunning: Bool { FileManager.default.fileExists(atPath: "/run/systemd/system") }

    /// Processes whose real or effective uid is `uid` (`/proc/PID/status`, line `Uid:`).
    static func processes(ofUID uid: uid_t) -> [pid_t] {
        FileSystem.listDirectory("/proc").compactMap { name -> pid_t? in
            guard let pid = pid_t(name),
                  let status = try? String(contentsOfFile: "/proc/\(name)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
            let ids = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().prefix(2).compactMap { uid_t($0) }
            return ids.contains(uid) ? pid : nil
        }
    }

    /// The mount points in this mount namespace (`/proc/self/mountinfo` field 5, octal escapes undone).
    static func mountPoints() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return Set(text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? unescapeMountInfo(String(fields[4])) : nil
        })
    }

    private static func unescapeMountInfo(_ s: String) -> String {
        var bytes: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let b = u.first {
            if b == UInt8(ascii: "\\"), u.count >= 4, let v = UInt8(String(decoding: u.dropFirst().prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(v)
                u = u.dropFirst(4)
            } else {
                bytes.append(b)
                u = u.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
