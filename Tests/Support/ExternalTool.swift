import Foundation

/// Runs a command-line tool (ffmpeg, ffprobe, …) found on PATH and collects its output.
public enum ExternalTool {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var command: String
        public var output: Output
        public var description: String { "\(command) exited with \(output.status): \(output.stderr)" }
    }

    /// Runs `tool` with `arguments`; stdout and stderr go through temporary files, so neither pipe can fill up.
    public static func run(_ tool: String, _ arguments: [String]) throws -> Output {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("stdout"), err = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            stdout: try Data(contentsOf: out),
            stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self)
        )
    }

    /// Like `run`, but a non-zero exit status throws.
    @discardableResult
    public static func check(_ tool: String, _ arguments: [String]) throws -> Output {
        let output = try run(tool, arguments)
        guard output.status == 0 else {
            throw Failure(command: ([tool] + arguments).joined(separator: " "), output: output)
        }
        return output
    }
}
