import Foundation

/// Turns a page URL (a YouTube watch page, an HTML page with a `<video>`) into a direct media URL by running
/// `yt-dlp -g -f best… --no-playlist URL`, with a timeout. Blocking: call it from a dedicated thread.
struct YtDlpResolver {
    let configuration: URLIngestConfiguration

    func mediaURL(forPage page: String, control: JobControl) throws(PipelineError) -> String {
        guard let executable = Self.findExecutable(configuration.ytDlp) else {
            throw .download(
                url: page,
                reason: "this is a web page, not a media file, and yt-dlp (needed to resolve it) was not found as "
                    + "\"\(configuration.ytDlp)\": install yt-dlp, set [url_ingest] yt_dlp to its path, or give a direct media URL")
        }
        let scratch = NSTemporaryDirectory() + "inboxd-yt-dlp-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: scratch + ".out", contents: nil)
        FileManager.default.createFile(atPath: scratch + ".err", contents: nil)
        defer {
            unlink(scratch + ".out")
            unlink(scratch + ".err")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        // Prefer a single progressive file over HLS/DASH manifests, which a plain download cannot assemble.
        process.arguments = [
            "-g", "-f", "best[protocol^=http][protocol!*=m3u8][protocol!*=dash]/best", "--no-playlist", "--no-warnings",
            "--", page,
        ]
        process.standardInput = FileHandle.nullDevice
        do {
            // Files, not pipes: a chatty yt-dlp can never block on a full pipe while we wait for it.
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + ".out"))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + ".err"))
            try process.run()
        } catch {
            throw .download(url: page, reason: "cannot run yt-dlp (\(executable)): \(error.localizedDescription)")
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64(configuration.ytDlpTimeoutSeconds * 1000))
        while process.isRunning {
            if control.isCancelled || ContinuousClock.now > deadline {
                process.terminate()
                process.waitUntilExit()
                try control.check()
                throw .download(url: page, reason: "yt-dlp did not resolve the page within \(Int(configuration.ytDlpTimeoutSeconds)) s")
            }
            usleep(50_000)
        }
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: scratch + ".out", encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            let errors = ((try? String(contentsOfFile: scratch + ".err", encoding: .utf8)) ?? "")
                .split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
            throw .download(url: page, reason: "yt-dlp could not resolve the page: \(errors)")
        }
        guard let media = output.split(separator: "\n").map(String.init).first(where: { $0.hasPrefix("http") }) else {
            throw .download(url: page, reason: "yt-dlp found no media URL on the page")
        }
        return media
    }

    /// `name` if it is a path to an executable, else the first match on `$PATH`.
    static func findExecutable(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }
}
