import Hummingbird
@testable import Server
import Testing

/// `API_KEY` as `sd serve` reads it: unset means no key; empty is refused instead of silently
/// turning authentication off; surrounding whitespace (a trailing newline from a file) is
/// trimmed, since such a key could never be sent; whitespace inside is refused.
@Suite struct APIKeyTests {
    @Test func unsetMeansNoKey() throws {
        #expect(try APIKey(environmentValue: nil) == nil)
    }

    @Test(arguments: ["", " ", "\n", " \t\r\n "]) func emptyIsRefused(_ value: String) {
        #expect(throws: APIKey.Problem.empty) { try APIKey(environmentValue: value) }
    }

    @Test func surroundingWhitespaceIsTrimmed() throws {
        let key = try #require(try APIKey(environmentValue: "  s3cret\n"))
        #expect(key.value == "s3cret" && key.wasTrimmed)
        let plain = try #require(try APIKey(environmentValue: "s3cret"))
        #expect(plain.value == "s3cret" && !plain.wasTrimmed)
    }

    @Test func innerWhitespaceIsRefused() {
        #expect(throws: APIKey.Problem.innerWhitespace) { try APIKey(environmentValue: "s3 cret") }
    }

    /// A configuration built by hand gets the same check: an empty key no longer means "no auth".
    @Test func theServerRefusesAnEmptyKey() {
        for key in ["", "  ", "a b"] {
            #expect(throws: APIKey.Problem.self, "\(key)") {
                try buildApplication(configuration: testConfiguration { $0.apiKey = key }, generator: FakeGenerator())
            }
        }
    }

    @Test func aTrimmedKeyIsTheOneClientsSend() async throws {
        let key = try #require(try APIKey(environmentValue: "s3cret\n"))
        let configuration = testConfiguration { $0.apiKey = key.value }
        try await withServer(configuration, generator: FakeGenerator()) { client in
            let keyed = try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer s3cret"])
            let bare = try await client.execute(uri: "/v1/models", method: .get)
            #expect(keyed.status == .ok && bare.status == .unauthorized)
        }
    }
}
