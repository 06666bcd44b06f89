import HTTPKit
import Testing

/// `cors_origins` entries are exactly what a browser sends in `Origin`, matched without regard to case.
@Suite struct CORSPolicyTests {
    @Test(arguments: ["*", "https://app.example", "http://127.0.0.1:3000", "http://[::1]:8080", "app+x://h"])
    func anOriginOrAStarIsAccepted(_ origin: String) {
        #expect(CORSPolicy.problem(with: origin) == nil)
    }

    @Test(arguments: ["app.example", "https://app.example/", "https://app.example/x", "https://", "https://:80", "https://h:0",
                      "https://h:99999", "https://u@h", "1http://h", "https://h?x", "http://[::1"])
    func anythingElseIsRefused(_ origin: String) {
        #expect(CORSPolicy.problem(with: origin) != nil)
    }

    @Test func matchingIgnoresCaseAndAStarAllowsAny() {
        let p = CORSPolicy(origins: ["https://App.Example"])
        #expect(p.allows("https://app.example") && p.allows("HTTPS://APP.EXAMPLE"))
        #expect(!p.allows("https://app.example:8443") && !p.allows("http://app.example") && !p.allows("null"))
        #expect(CORSPolicy(origins: ["*"]).allows("https://any.example"))
        #expect(!CORSPolicy(origins: []).isEnabled)
    }
}
