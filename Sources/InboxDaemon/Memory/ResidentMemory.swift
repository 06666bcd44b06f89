import CInboxd
import Foundation

/// Gives the kernel back the resident pages an idle daemon does not need: code and read-only data of the executable
/// and its shared libraries that start-up (the dynamic loader, library constructors, Swift metadata, migrations) or a
/// finished job touched once, and free heap pages (`malloc_trim`).
///
/// Only pages that are exact copies of their file are dropped (`MADV_DONTNEED` on a private mapping that was never
/// written, see `droppableRanges`): they stay in the page cache, and the next use maps them again with a minor
/// fault and no I/O. The process's own data is never touched.
enum ResidentMemory {
    /// What one trim did: resident KiB before and after, the mappings it dropped, and its cost.
    struct Trim: Sendable {
        var residentKiBBefore: Int
        var residentKiBAfter: Int
        var mappings: Int
        var cpuSeconds: Double
        var heapReleased: Bool
    }

    /// Drops the clean file-backed pages of `/proc/self/smaps` and trims the heap. Blocking (procfs, page tables):
    /// run it on `BlockingIO`.
    static func trim() throws -> Trim {
        let cpu0 = inboxd_thread_cpu_seconds()
        let before = try residentKiB()
        // In a call of its own: the ~1 MiB text is freed before `malloc_trim`, which can then give it back too.
        let ranges = try droppableRanges(smaps: procFile("/proc/self/smaps"), executable: executablePath)
        var dropped = 0
        for range in ranges {
            guard let start = UnsafeMutableRawPointer(bitPattern: range.lowerBound) else { continue }
            if madvise(start, range.count, MADV_DONTNEED) == 0 { dropped += 1 }
        }
        let heap = inboxd_malloc_trim() == 1
        return Trim(residentKiBBefore: before, residentKiBAfter: try residentKiB(), mappings: dropped,
                    cpuSeconds: max(inboxd_thread_cpu_seconds() - cpu0, 0), heapReleased: heap)
    }

    /// The resident set in KiB (`/proc/self/statm`, in pages).
    static func residentKiB() throws -> Int {
        let statm = try procFile("/proc/self/statm").split(separator: " ")
        guard statm.count > 1, let pages = Int(statm[1]) else { throw ResidentMemoryError.unreadable("/proc/self/statm") }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
    }

    /// A procfs file read to its end: its size is 0 to `stat`, so a reader that trusts the size gets one page.
    static func procFile(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ResidentMemoryError.unreadable(path) }
        defer { try? handle.close() }
        guard let data = try handle.readToEnd() else { throw ResidentMemoryError.unreadable(path) }
        return String(decoding: data, as: UTF8.self)
    }

    static let executablePath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""

    /// The address ranges of `smaps` whose resident pages are all unmodified copies of their file, so dropping them
    /// loses nothing:
    /// - readable, not writable, private (`r-xp`, `r--p`): a writable mapping may hold written pages, and a shared
    ///   one is the file itself;
    /// - no `Anonymous` or `Swap` pages: a written page of a private mapping is an anonymous copy (RELRO, relocated
    ///   and then made read-only, holds such pages). `Private_Dirty` is no test: it also counts the page cache's
    ///   own dirty pages of a file written a moment ago (a binary just built), which stay the file's;
    /// - not locked;
    /// - of the executable or a shared library (`.so`) outside `gconv/`: those the dynamic loader maps for the
    ///   whole run. Any other file mapping (a gconv module, a file a library maps for a while) might be unmapped
    ///   and its addresses reused by a new private mapping between this read and the `madvise`.
    static func droppableRanges(smaps: String, executable: String) -> [Range<UInt>] {
        var ranges: [Range<UInt>] = []
        var current: Range<UInt>?
        var clean = false
        func finish() {
            if let range = current, clean { ranges.append(range) }
            current = nil
        }
        for line in smaps.split(separator: "\n", omittingEmptySubsequences: true) {
            // Header lines start with the address in lower-case hex, field lines with a capitalised name.
            if let c = line.utf8.first, c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") || c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"),
               let header = MappingHeader(line) {
                finish()
                current = header.range
                clean = header.perms.hasPrefix("r-") && header.perms.hasSuffix("p") && isLoadedObject(header.path, executable: executable)
                continue
            }
            guard clean, current != nil else { continue }
            for key in ["Anonymous:", "Swap:", "Locked:"] where line.hasPrefix(key) {
                if kiB(line.dropFirst(key.count)) != 0 { clean = false }
            }
        }
        finish()
        return ranges
    }

    static func isLoadedObject(_ path: Substring, executable: String) -> Bool {
        guard path.hasPrefix("/"), !path.hasSuffix(" (deleted)") else { return false }
        if !executable.isEmpty, path == executable { return true }
        let name = path.split(separator: "/").last ?? ""
        return !path.contains("/gconv/") && (name.hasSuffix(".so") || name.contains(".so."))
    }

    /// "  1234 kB" → 1234; unparsable → -1 (counts as not clean).
    private static func kiB(_ field: Substring) -> Int {
        Int(field.split(separator: " ").first ?? "") ?? -1
    }
}

/// One mapping's first line in smaps: `start-end perms offset dev inode [path]`.
private struct MappingHeader {
    let range: Range<UInt>
    let perms: Substring
    let path: Substring

    init?(_ line: Substring) {
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count >= 5, fields[1].count == 4 else { return nil }
        let bounds = fields[0].split(separator: "-")
        guard bounds.count == 2, let lo = UInt(bounds[0], radix: 16), let hi = UInt(bounds[1], radix: 16), lo < hi else { return nil }
        range = lo..<hi
        perms = fields[1]
        path = fields.count == 6 ? Substring(fields[5].drop { $0 == " " }) : ""
    }
}

enum ResidentMemoryError: Error, CustomStringConvertible {
    case unreadable(String)

    var description: String {
        switch self {
        case .unreadable(let path): "cannot read \(path)"
        }
    }
}
