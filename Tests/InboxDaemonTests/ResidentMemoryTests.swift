import Foundation
@testable import InboxDaemon
import Testing

/// Which mappings a memory trim may drop: only code and read-only data of loaded objects whose pages are all
/// unmodified copies of their file. Anything the process wrote (RELRO, .data, heap, stacks) is kept.
@Suite struct ResidentMemoryTests {
    static let exe = "/usr/bin/inboxd"

    /// One smaps entry with the fields the trim reads.
    static func entry(_ range: String, _ perms: String, _ path: String, anonymous: Int = 0, privateDirty: Int = 0,
                      swap: Int = 0, locked: Int = 0) -> String {
        """
        \(range) \(perms) 00000000 fe:00 42                         \(path)
        Size:                 64 kB
        Rss:                  64 kB
        Private_Dirty:      \(privateDirty) kB
        Anonymous:          \(anonymous) kB
        Swap:               \(swap) kB
        Locked:             \(locked) kB
        VmFlags: rd ex mr mw me sd

        """
    }

    @Test func codeAndReadOnlyDataOfTheExecutableAndLibrariesAreDroppedEverythingWrittenIsKept() {
        let smaps = [
            Self.entry("1000-2000", "r--p", Self.exe, privateDirty: 4),  // the page cache's dirty pages of a new build
            Self.entry("2000-9000", "r-xp", Self.exe),
            Self.entry("9000-a000", "r--p", Self.exe, anonymous: 4, privateDirty: 4),  // RELRO: relocated pages
            Self.entry("a000-b000", "rw-p", Self.exe, anonymous: 4),                   // .data
            Self.entry("b000-c000", "rw-p", ""),                                       // .bss, heap
            Self.entry("10000-20000", "r-xp", "/usr/lib/x86_64-linux-gnu/libavcodec.so.59.37.100"),
            Self.entry("20000-21000", "r--p", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
            Self.entry("21000-22000", "r--p", "/usr/lib/x86_64-linux-gnu/libc.so.6", swap: 4),
            Self.entry("22000-23000", "r-xp", "/usr/lib/x86_64-linux-gnu/libm.so.6", locked: 4),
            Self.entry("23000-24000", "r-xp", "/usr/lib/x86_64-linux-gnu/libvdpau_trace.so"),
            Self.entry("30000-31000", "r--s", "/srv/inboxd/inboxd.db-shm"),             // shared: the file itself
            Self.entry("31000-32000", "r--p", "/srv/inboxd/web/player.js"),              // may be unmapped any time
            Self.entry("32000-33000", "r-xp", "/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so"),  // gconv unloads modules
            Self.entry("33000-34000", "r-xp", "/usr/lib/libgone.so.1 (deleted)"),
            Self.entry("40000-41000", "r-xp", "[vdso]"),
            Self.entry("41000-42000", "---p", "/usr/lib/x86_64-linux-gnu/libc.so.6"),   // guard gap: nothing to read
        ].joined()
        let ranges = ResidentMemory.droppableRanges(smaps: smaps, executable: Self.exe)
        #expect(ranges == [0x1000..<0x2000, 0x2000..<0x9000, 0x10000..<0x20000, 0x20000..<0x21000, 0x23000..<0x24000])
    }

    @Test func anUnreadableCounterKeepsTheMapping() {
        let smaps = Self.entry("1000-2000", "r-xp", Self.exe).replacingOccurrences(of: "Anonymous:          0 kB", with: "Anonymous: ? kB")
        #expect(ResidentMemory.droppableRanges(smaps: smaps, executable: Self.exe).isEmpty)
    }

    /// The real thing, in this test process: the trim finds its own executable's code, drops it, and the process
    /// goes on running the code it just dropped (the pages come back from the page cache on the next call).
    @Test func trimmingThisProcessDropsItsCodeAndItKeepsRunning() throws {
        let smaps = try ResidentMemory.procFile("/proc/self/smaps")
        let ranges = ResidentMemory.droppableRanges(smaps: smaps, executable: ResidentMemory.executablePath)
        #expect(smaps.count > 4096, "all of it, not the one page a reader trusting the size of a procfs file gets")
        #expect(ranges.count > 10, "the executable's and the libraries' code: \(ranges.count)")
        let trim = try ResidentMemory.trim()
        #expect(trim.mappings > 0)
        #expect(trim.residentKiBAfter < trim.residentKiBBefore, "\(trim)")
        #expect(try ResidentMemory.residentKiB() > 0)
        let data = Data("still running".utf8)
        #expect(String(decoding: data, as: UTF8.self) == "still running")
    }
}
