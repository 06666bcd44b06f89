import Foundation
import StatusAPI
import Store
import Testing
import TestSupport

/// `openapi.yaml` is the one description of the API: a valid OpenAPI document, served as JSON unchanged, and naming
/// the failure reasons the daemon writes. (That its paths are the router's is checked in InboxDaemonTests.)
@Suite struct OpenAPISpecTests {
    static let specPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/StatusAPI/openapi.yaml").standardizedFileURL.path

    private var served: [String: Any] {
        get throws { try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json)) as? [String: Any]) }
    }

    @Test func theSpecFilePassesOpenAPISpecValidator() throws {
        let r = try Shell.run("python3", ["-m", "openapi_spec_validator", Self.specPath])
        #expect(r.status == 0, "openapi-spec-validator (PyPI, installed by scripts/bootstrap):\n\(r.stdout)\n\(r.stderr)")
    }

    @Test func theCompiledInYAMLIsTheFileInTheRepository() throws {
        #expect(OpenAPIDocument.yaml == (try String(contentsOfFile: Self.specPath, encoding: .utf8)))
    }

    @Test func theServedJSONIsTheYAMLWithBothSpellingsOfTheUploadPath() throws {
        let doc = try served
        #expect(doc["openapi"] as? String == "3.0.3")
        let paths = try #require(doc["paths"] as? [String: Any])
        #expect(paths["/api/videos/"] as? NSDictionary == paths["/api/videos"] as? NSDictionary)
        #expect(paths["/api/videos/"] != nil)
    }

    @Test func theFailureReasonsAreTheOnesTheDaemonWrites() throws {
        let schemas = try #require((try served["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let reasons = try #require((schemas["FailureReason"] as? [String: Any])?["enum"] as? [Any])
        #expect(reasons.compactMap { $0 as? String } == FailureReason.allCases.map(\.rawValue))
        #expect(reasons.contains { $0 is NSNull }, "null: a job that has not failed")
    }
}
