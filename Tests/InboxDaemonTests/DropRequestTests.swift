import Foundation
@testable import InboxDaemon
import Pipeline
import Store
import Testing

/// One contract for a drop's metadata, whoever produced it: the sidecar parser and the upload routes give the
/// same answer for the same value.
@Suite struct DropRequestTests {
    private func sidecar(_ json: String) -> Result<Sidecar, SidecarError> {
        Result { () throws(SidecarError) in try Sidecar.parse(Array(json.utf8)) }
    }

    private func sidecarError(_ json: String) -> String? {
        if case .failure(let e) = sidecar(json) { return e.description }
        return nil
    }

    private func uploadError(title: String?, description: String? = nil, visibility: String? = nil) -> APIErrorSummary? {
        do {
            _ = try DropRequest.upload(title: title, description: description, visibility: visibility)
            return nil
        } catch {
            return APIErrorSummary(status: error.status.code, detail: error.detail)
        }
    }

    struct APIErrorSummary: Equatable {
        var status: Int
        var detail: String
    }

    @Test(arguments: [
        ("", "'title' is blank"),
        (" \t\n\u{1F}", "'title' is blank"),
        (String(repeating: "é", count: 201), "'title' is longer than 200 characters"),
        // 200 scalars but 100 characters: the limit counts Unicode scalars, as the OpenAPI schema's maxLength does.
        (String(repeating: "e\u{301}", count: 101), "'title' is longer than 200 characters"),
        ("a\u{0}b", "'title' contains a NUL character (U+0000), which is not allowed in text"),
    ])
    func aTitleIsRefusedTheSameWayBySidecarAndUpload(title: String, expected: String) throws {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: ["title": title]), as: UTF8.self)
        #expect(sidecarError(json) == "sidecar field \(expected)")
        #expect(uploadError(title: title) == APIErrorSummary(status: 400, detail: expected))
    }

    @Test func theLongestTitleAndAnEmptyVisibilityAreAccepted() throws {
        let title = String(repeating: "é", count: 200)
        let s = try sidecar(#"{"title": "\#(title)", "visibility": ""}"#).get()
        #expect(s.title == title && s.visibility == .draft)
        let u = try DropRequest.upload(title: title, description: nil, visibility: "")
        #expect(u == s.request)
    }

    @Test(arguments: ["description", "user_id", "username"])
    func aNULInAnyTextFieldOfASidecarIsRefusedNamingTheField(field: String) {
        let error = sidecarError(#"{"title": "t", "\#(field)": "before\u0000after"}"#)
        #expect(error == "sidecar field '\(field)' contains a NUL character (U+0000), which is not allowed in text")
    }

    @Test func aNULInAnUploadsDescriptionIsA400NamingTheField() {
        #expect(uploadError(title: "t", description: "x\u{0}") ==
                APIErrorSummary(status: 400, detail: "'description' contains a NUL character (U+0000), which is not allowed in text"))
    }

    @Test func aSidecarIsParsedIntoTheRequestAndKeepsItsRawText() throws {
        let json = #"""
            {"title": "Talk", "description": "d", "video_id": "0E5A1D6C-7B0A-4E8E-9C1B-2A7E5E0F1A2B", "user_id": "7",
             "username": "ann", "visibility": "published", "clip": {"start_s": 1.5, "duration_s": 4},
             "source_url": "https://example.com/v.mp4?x=1", "sha256": "\#(String(repeating: "AB", count: 32))",
             "thumbnail": "t.jpg", "custom": {"kept": true}}
            """#
        let s = try sidecar(json).get()
        #expect(s.title == "Talk" && s.description == "d" && s.userID == "7" && s.username == "ann")
        #expect(s.videoID == "0e5a1d6c-7b0a-4e8e-9c1b-2a7e5e0f1a2b")
        #expect(s.visibility == .published)
        #expect(s.clip == ClipRange(start: 1.5, duration: 4))
        #expect(s.sourceURL == "https://example.com/v.mp4?x=1")
        #expect(s.sha256 == String(repeating: "ab", count: 32))
        #expect(s.thumbnail == "t.jpg")
        #expect(s.raw == json)
    }

    @Test(arguments: [
        (#"{"title": "x", "video_id": "123"}"#, "sidecar field 'video_id' must be a UUID"),
        (#"{"title": "x", "clip": {"start_s": -1}}"#, "sidecar field 'clip.start_s' must be a number ≥ 0"),
        (#"{"title": "x", "clip": {"duration_s": 0}}"#, "sidecar field 'clip.duration_s' must be a number > 0"),
        (#"{"title": "x", "clip": {"start_s": "1"}}"#, "sidecar field 'clip.start_s' must be a number"),
        (#"{"title": "x", "sha256": "abc"}"#, "sidecar field 'sha256' must be 64 hex digits"),
        (#"{"title": "x", "thumbnail": "../t.jpg"}"#, "sidecar field 'thumbnail' must be a file name in the same directory"),
        (#"{"title": "x", "visibility": "public"}"#, "sidecar field 'visibility' must be draft, private or published, not 'public'"),
        (#"{"title": 5}"#, "sidecar field 'title' must be a string"),
        (#"{"description": "x"}"#, "sidecar field 'title' is required"),
        (#"["title"]"#, "sidecar must be a JSON object"),
    ])
    func aBadSidecarFieldIsNamed(json: String, expected: String) {
        #expect(sidecarError(json) == expected)
    }

    @Test(arguments: [
        ("https://example.com/a/b.mp4?x=1&y=2", true),
        ("http://127.0.0.1:8080/v.mp4", true),
        ("ftp://example.com/a.mp4", false),
        ("https://exa mple.com/", false),
        ("https://example.com/a#frag", false),
        ("https://example.com/\u{0}", false),
    ])
    func aSourceURLFollowsTheOnePatternForSidecarAndURLIngest(url: String, accepted: Bool) throws {
        var r = try DropRequest(title: "t")
        let sidecarAccepts = (try? r.setSourceURL(url)) != nil
        let ingestAccepts = (try? r.setSourceURL(url, field: "url")) != nil
        #expect(sidecarAccepts == accepted && ingestAccepts == accepted)
    }

    @Test func newIdsAreLowercaseUUIDsAndLookupsAlsoTakeLegacyTokens() {
        #expect(VideoID.parse("0E5A1D6C-7B0A-4E8E-9C1B-2A7E5E0F1A2B") == "0e5a1d6c-7b0a-4e8e-9c1b-2a7e5e0f1a2b")
        #expect(VideoID.parse("42") == nil)
        #expect(VideoID.lookupKey("42") == "42")
        #expect(VideoID.lookupKey("a b") == nil && VideoID.lookupKey("") == nil)
        #expect(VideoID.lookupKey(String(repeating: "a", count: 65)) == nil)
        #expect(VideoID.parse(VideoID.make()) != nil)
    }

    /// The byte-by-byte check takes what Foundation's `UUID(uuidString:)` takes, and gives its lowercase text.
    @Test func idsParseAsFoundationParsesThem() {
        var candidates = (0..<50).map { _ in UUID().uuidString }
        candidates += [
            "0e5a1d6c-7b0a-4e8e-9c1b-2a7e5e0f1a2b", "0E5A1D6C-7b0a-4E8E-9c1b-2A7E5E0F1A2B",
            "0e5a1d6c-7b0a-4e8e-9c1b-2a7e5e0f1a2g", "0e5a1d6c_7b0a-4e8e-9c1b-2a7e5e0f1a2b", "0e5a1d6c-7b0a-4e8e-9c1b-2a7e5e0f1a2",
            "0e5a1d6c-7b0a-4e8e-9c1b-2a7e5e0f1a2b0", "0e5a1d6c7b0a4e8e9c1b2a7e5e0f1a2b0000", "{0e5a1d6c-7b0a-4e8e-9c1b-2a7e5e0f1a}",
            "0e5a1d6c-7b0a-4e8e-9c1b-2a7e5e0f1aé", "0e5a1d6c--7b0a-4e8e-9c1b-2a7e5e0f1a2", "",
        ]
        for text in candidates {
            #expect(VideoID.parse(text) == UUID(uuidString: text).map { $0.uuidString.lowercased() }, "\(text)")
        }
        // Foundation's `sscanf("%2hhx")` also takes a sign or a space in a pair; an id never holds one.
        #expect(VideoID.parse("+e5a1d6c-7b0a-4e8e-9c1b-2a7e5e0f1a2b") == nil)
        #expect(VideoID.parse(" e5a1d6c-7b0a-4e8e-9c1b-2a7e5e0f1a2b") == nil)
    }
}
