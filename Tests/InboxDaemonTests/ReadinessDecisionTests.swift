import Foundation
@testable import InboxDaemon
import Store
import Testing

/// README's "When is a drop claimed?" as a table: facts in, decision out, no inotify and no daemon. The event
/// sequences are what inotify reports for each way of writing; `t` is seconds on the watcher's clock.
@Suite struct ReadinessDecisionTests {
    static let timing = ReadinessDecision.Timing(settleSeconds: 5, orphanSeconds: 60)

    /// A file's history from inotify: events in order, each at a time, numbered across both files of the drop.
    struct History {
        var file: TrackedFile
        init(createdAt t: Double) { file = TrackedFile(now: t) }
        /// Found by a (re)scan with this mtime, no events known.
        init(scannedAt t: Double, mtime: Double) { file = TrackedFile(now: t, mtime: mtime) }

        mutating func events(_ masks: [Int32], at t: Double, seq: inout Int) {
            for mask in masks {
                seq += 1
                file.apply(Inotify.Event(wd: 0, mask: UInt32(mask), name: "x"), now: t, seq: seq)
            }
        }
    }

    static let written = [IN_CREATE, IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE]

    static func parsed(_ json: String) -> DropFacts.SidecarContent {
        do { return .parsed(try Sidecar.parse(Array(json.utf8))) } catch { return .invalid(error) }
    }

    static func facts(sidecar: TrackedFile, media: TrackedFile?, content: DropFacts.SidecarContent = parsed(#"{"title": "t"}"#),
                      sidecarKind: FileSystem.Kind? = .regular, mediaKind: FileSystem.Kind? = .regular) -> DropFacts {
        var f = DropFacts(sidecarName: "talk.mp4.json", mediaName: "talk.mp4", sidecarKind: sidecarKind, sidecar: sidecar)
        f.content = content
        f.mediaKind = media == nil ? nil : mediaKind
        f.media = media
        return f
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var facts: DropFacts
        var now: Double
        var expected: ReadinessDecision
        var testDescription: String { name }
    }

    static var cases: [Case] {
        var out: [Case] = []
        var seq = 0

        // Renamed into place (rsync temp → final, the receiver, mv): claimed at once.
        var media = History(createdAt: 0), side = History(createdAt: 0)
        media.events([IN_MOVED_TO], at: 10, seq: &seq)
        side.events([IN_MOVED_TO], at: 10, seq: &seq)
        out.append(Case(name: "renamed media and sidecar: claimed at once", facts: facts(sidecar: side.file, media: media.file),
                        now: 10, expected: .claim(hasMedia: true)))

        // Written and closed, then the sidecar written (cp; cp): claimed as soon as the sidecar is complete.
        media = History(createdAt: 0); side = History(createdAt: 0); seq = 0
        media.events(written, at: 1, seq: &seq)
        side.events(written, at: 1, seq: &seq)
        out.append(Case(name: "media closed, then sidecar written: claimed at once", facts: facts(sidecar: side.file, media: media.file),
                        now: 1, expected: .claim(hasMedia: true)))
        var sidecarOpen = History(createdAt: 0)
        sidecarOpen.events([IN_CREATE, IN_OPEN, IN_MODIFY], at: 1, seq: &seq)
        out.append(Case(name: "sidecar still open: waits, however long", facts: facts(sidecar: sidecarOpen.file, media: media.file),
                        now: 100, expected: .wait(.sidecarIncomplete)))

        // Sidecar first, media written in place afterwards (scp, sftp): after close plus settle_seconds of quiet.
        media = History(createdAt: 0); side = History(createdAt: 0); seq = 0
        side.events(written, at: 1, seq: &seq)
        media.events([IN_CREATE, IN_OPEN, IN_MODIFY], at: 2, seq: &seq)
        out.append(Case(name: "media still open after the sidecar: waits past settle", facts: facts(sidecar: side.file, media: media.file),
                        now: 30, expected: .wait(.mediaIncomplete)))
        media.events([IN_MODIFY, IN_CLOSE_WRITE], at: 3, seq: &seq)
        out.append(Case(name: "media closed after the sidecar: waits for settle", facts: facts(sidecar: side.file, media: media.file),
                        now: 7.9, expected: .wait(.mediaIncomplete)))
        out.append(Case(name: "media closed after the sidecar: claimed after settle", facts: facts(sidecar: side.file, media: media.file),
                        now: 8, expected: .claim(hasMedia: true)))
        // Several open/close rounds (sftp resume): each write restarts the quiet time.
        var reopened = media
        reopened.events([IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE], at: 7, seq: &seq)
        out.append(Case(name: "reopened and written again: quiet time restarts", facts: facts(sidecar: side.file, media: reopened.file),
                        now: 8, expected: .wait(.mediaIncomplete)))
        out.append(Case(name: "reopened and written again: claimed once quiet", facts: facts(sidecar: side.file, media: reopened.file),
                        now: 12, expected: .claim(hasMedia: true)))
        // Renamed in after the sidecar (rsync sending the media last) needs no settle.
        var renamedLate = History(createdAt: 0)
        renamedLate.events([IN_MOVED_TO], at: 3, seq: &seq)
        out.append(Case(name: "media renamed in after the sidecar: claimed at once", facts: facts(sidecar: side.file, media: renamedLate.file),
                        now: 3, expected: .claim(hasMedia: true)))

        // Found by the startup scan or after an inotify overflow (no events known): settle_seconds of quiet by mtime.
        let oldSidecar = History(scannedAt: 100, mtime: 50), oldMedia = History(scannedAt: 100, mtime: 50)
        out.append(Case(name: "scanned, quiet since long: claimed", facts: facts(sidecar: oldSidecar.file, media: oldMedia.file),
                        now: 100, expected: .claim(hasMedia: true)))
        let freshSidecar = History(scannedAt: 100, mtime: 98), freshMedia = History(scannedAt: 100, mtime: 99)
        out.append(Case(name: "scanned, sidecar changed 2 s ago: waits", facts: facts(sidecar: freshSidecar.file, media: freshMedia.file),
                        now: 100, expected: .wait(.sidecarIncomplete)))
        out.append(Case(name: "scanned, media changed 1 s ago: waits", facts: facts(sidecar: oldSidecar.file, media: freshMedia.file),
                        now: 100, expected: .wait(.mediaIncomplete)))
        var growing = oldMedia.file
        growing.observe(size: 10, mtime: 50, now: 100)
        growing.observe(size: 20, mtime: 50, now: 101)
        out.append(Case(name: "scanned, media still growing (lstat size): waits", facts: facts(sidecar: oldSidecar.file, media: growing),
                        now: 102, expected: .wait(.mediaIncomplete)))

        // The sidecar is read only once complete, and judged by its content.
        out.append(Case(name: "complete sidecar not read yet: read it", facts: facts(sidecar: oldSidecar.file, media: oldMedia.file, content: .notRead),
                        now: 100, expected: .readSidecar))
        out.append(Case(name: "sidecar vanished while reading: waits", facts: facts(sidecar: oldSidecar.file, media: oldMedia.file, content: .unreadable),
                        now: 100, expected: .wait(.sidecarUnreadable)))
        out.append(Case(name: "invalid sidecar: rejected naming the field",
                        facts: facts(sidecar: oldSidecar.file, media: oldMedia.file, content: parsed(#"{"title": "a\u0000"}"#)),
                        now: 100, expected: .reject(.sidecar, message: "sidecar field 'title' contains a NUL character (U+0000), which is not allowed in text")))

        // No media: URL ingest, or an orphan after orphan_seconds.
        out.append(Case(name: "no media, source_url: claimed as a URL ingest",
                        facts: facts(sidecar: oldSidecar.file, media: nil, content: parsed(#"{"title": "t", "source_url": "https://example.com/v.mp4"}"#)),
                        now: 100, expected: .claim(hasMedia: false)))
        out.append(Case(name: "no media yet: waits", facts: facts(sidecar: oldSidecar.file, media: nil), now: 109, expected: .wait(.mediaMissing)))
        out.append(Case(name: "no media after orphan_seconds: rejected as an orphan", facts: facts(sidecar: oldSidecar.file, media: nil),
                        now: 110, expected: .reject(.orphan, message: "no media file 'talk.mp4' arrived within 60 s of its sidecar, and the sidecar has no source_url")))

        // Never through a link, never a non-regular file.
        out.append(Case(name: "media is a symlink: rejected", facts: facts(sidecar: oldSidecar.file, media: oldMedia.file, mediaKind: .symlink),
                        now: 100, expected: .reject(.unsafeFile, message: "media talk.mp4 is a symbolic link; inboxd never follows links or opens non-regular files")))
        out.append(Case(name: "sidecar is a FIFO: rejected unread",
                        facts: facts(sidecar: oldSidecar.file, media: oldMedia.file, content: .notRead, sidecarKind: .other("a FIFO")),
                        now: 100, expected: .reject(.unsafeFile, message: "sidecar talk.mp4.json is a FIFO; inboxd only reads regular files")))
        var linked = facts(sidecar: oldSidecar.file, media: oldMedia.file)
        linked.mediaLinks = 2
        out.append(Case(name: "media with a second hard link: rejected", facts: linked, now: 100,
                        expected: .reject(.unsafeFile, message: "media talk.mp4 has 2 hard links; a hard link can expose a file from outside the inbox, so inboxd refuses it (copy the file instead, or set allow_hard_links = true)")))
        var oversized = facts(sidecar: oldSidecar.file, media: oldMedia.file, content: .notRead)
        oversized.sidecarSize = 70_000
        out.append(Case(name: "sidecar over 64 KiB: rejected by its size, unread", facts: oversized, now: 100,
                        expected: .reject(.sidecar, message: "sidecar is 70000 bytes; the limit is 65536")))
        out.append(Case(name: "sidecar deleted: forgotten", facts: facts(sidecar: oldSidecar.file, media: oldMedia.file, sidecarKind: nil),
                        now: 100, expected: .forget))
        return out
    }

    @Test(arguments: cases)
    func theReadinessTable(_ c: Case) {
        #expect(ReadinessDecision.decide(c.facts, now: c.now, timing: Self.timing) == c.expected)
    }

    @Test func allowHardLinksLetsALinkedMediaFileBeClaimed() {
        var f = Self.facts(sidecar: TrackedFile(now: 100, mtime: 50), media: TrackedFile(now: 100, mtime: 50))
        f.mediaLinks = 3
        var timing = Self.timing
        timing.allowHardLinks = true
        #expect(ReadinessDecision.decide(f, now: 100, timing: timing) == .claim(hasMedia: true))
    }

    @Test func hiddenAndTemporaryNamesAreNeverDrops() {
        for name in [".talk.mp4.Xa81Qz", ".talk.mp4.json.Pq02Lm", "a.mp4.part", "a.mp4.json.tmp", "x~", "a.crdownload", ".hidden.mp4.json"] {
            #expect(DropNames.isIgnored(name) && !DropNames.isSidecar(name), "\(name)")
        }
        #expect(DropNames.isSidecar("talk.mp4.json") && !DropNames.isSidecar(".json"))
    }
}
