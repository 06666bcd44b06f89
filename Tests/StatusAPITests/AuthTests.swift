import Testing
import TokenHash

/// Token hashing. Bearer auth through `UserTokenLookup` on both stores: `InboxDaemonTests/VideoRouteTests.swift` (`StoreAuthTests`).
@Suite struct AuthTests {
    @Test func aTokenHashIsTheSHA256HexOfTheToken() {
        #expect(TokenHash.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let token = TokenHash.newToken()
        #expect(token.utf8.count == 64 && token.allSatisfy(\.isHexDigit) && token != TokenHash.newToken())
    }
}
