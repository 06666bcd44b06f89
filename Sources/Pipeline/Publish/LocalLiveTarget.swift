import Foundation

/// Live publishing into `<outputRoot>/videos/<id>/`: each file is copied under a dot-name beside its final name and
/// renamed over it, so a reader of the final name sees the old file or the new one, never a part.
struct LocalLiveTarget: LiveTarget {
    let root: String
    let baseURL: String

    func url(of relativePath: String) -> String { "\(baseURL)/\(relativePath)" }

    func put(_ files: [LiveFile], control: JobControl) throws(PipelineError) {
        for file in files {
            try control.check()
            try install(file)
        }
    }

    func publishedText(_ relativePath: String, control: JobControl) throws(PipelineError) -> String? {
        let path = "\(root)/\(relativePath)"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .io(path: path, "cannot read the published playlist", error)
        }
    }

    /// Removes the dot-temporaries a crashed attempt may have left beside the published files.
    func finished() {
        let fm = FileManager.default
        let dirs = [root] + ((try? fm.contentsOfDirectory(atPath: root)) ?? []).filter { !$0.hasPrefix(".") }.map { "\(root)/\($0)" }
        for dir in dirs {
            for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix(".") && name.contains(".live-") {
                try? fm.removeItem(atPath: "\(dir)/\(name)")
            }
        }
    }

    private func install(_ file: LiveFile) throws(PipelineError) {
        let target = "\(root)/\(file.relativePath)"
        let parent = (target as NSString).deletingLastPathComponent
        let temporary = "\(parent)/.\((target as NSString).lastPathComponent).live-\(UUID().uuidString.prefix(8))"
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
            try fm.copyItem(atPath: file.path, toPath: temporary)
        } catch {
            try? fm.removeItem(atPath: temporary)
            if case .noSpace = PipelineError.io(path: target, "publish", error) { throw .noSpace(path: target) }
            throw .publish(target: target, reason: (error as NSError).localizedDescription)
        }
        guard rename(temporary, target) == 0 else {
            let code = errno
            try? fm.removeItem(atPath: temporary)
            throw code == ENOSPC || code == EDQUOT ? .noSpace(path: target) : .publish(target: target, reason: String(cString: strerror(code)))
        }
    }
}
