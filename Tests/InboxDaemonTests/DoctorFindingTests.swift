@testable import InboxDaemon
import Testing

/// The decisions of `inboxd doctor` that depend on kernel limits or disk sizes a test cannot set, as tables.
@Suite struct DoctorFindingTests {
    @Test(arguments: [
        (8192, 128, 1, true), (8192, 128, 4096, true), (8192, 128, 4097, false), (1, 128, 1, false), (8192, 1, 1, false), (8192, 0, 1, false),
    ])
    func inotifyLimitsLeaveRoomForTheWatchedDirectories(watches: Int, instances: Int, directories: Int, ok: Bool) {
        let f = InotifyCheck.finding(maxUserWatches: watches, maxUserInstances: instances, directories: directories)
        #expect(f.isOK == ok, "\(f.line)")
        if !ok { #expect(f.line.hasPrefix("FAIL inotify limits") && f.line.contains("sysctl fs.inotify.")) }
    }

    @Test func freeSpaceBelowTheMinimumFailsAndAtItPasses() {
        #expect(FreeSpaceCheck.finding(path: "/x", free: 256 << 20, minimum: 256 << 20).line == "ok   free space on /x: 256 MiB (min_free_bytes 256 MiB)")
        let low = FreeSpaceCheck.finding(path: "/x", free: 10 << 20, minimum: 256 << 20)
        #expect(low.line.hasPrefix("FAIL free space on /x: 10 MiB (min_free_bytes 256 MiB): below min_free_bytes"), "\(low.line)")
    }
}
