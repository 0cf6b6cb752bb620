import Hummingbird
import HummingbirdTesting
@testable import Server
import Testing

@Suite struct AuthAndCORSTests {
    static func keyed() -> ServerConfiguration { testConfiguration { $0.apiKey = "s3cret" } }

    @Test func withTheRightKeyEverythingWorks() async throws {
        try await withServer(Self.keyed(), generator: FakeGenerator()) { client in
            let response = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": "x", "steps": 1}"#, headers: [.authorization: "Bearer s3cret"])
            #expect(response.status == .ok)
            #expect(try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer s3cret"]).status == .ok)
        }
    }

    @Test func aMissingOrWrongKeyIs401() async throws {
        try await withServer(Self.keyed(), generator: FakeGenerator()) { client in
            for headers: HTTPFields in [[:], [.authorization: "Bearer nope"], [.authorization: "s3cret"], [.authorization: "Bearer s3cret extra"], [.authorization: "Bearer s3cre"]] {
                for (uri, method) in [("/v1/images/generations", HTTPRequest.Method.post), ("/v1/files", .get), ("/v1/models", .get), ("/echo", .get)] {
                    let response = try await client.execute(uri: uri, method: method, headers: headers)
                    #expect(response.status == .unauthorized, "\(uri) \(headers)")
                    #expect(response.error?.code == "invalid_api_key")
                    #expect(response.headers[.accessControlAllowOrigin] == "*")
                }
            }
            // Health stays open for probes.
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
        }
    }

    @Test func preflightIsAnsweredWithoutAKey() async throws {
        try await withServer(Self.keyed(), generator: FakeGenerator()) { client in
            let response = try await client.execute(
                uri: "/v1/images/generations", method: .options,
                headers: [.origin: "http://example.test", .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "authorization, content-type"])
            #expect(response.status == .ok)
            #expect(response.headers[.accessControlAllowOrigin] == "*")
            #expect(response.headers[.accessControlAllowMethods] == "*")
            #expect(response.headers[.accessControlAllowHeaders] == "authorization, content-type")
            #expect(response.body.readableBytes == 0)
        }
    }

    @Test func constantTimeComparison() {
        #expect(AuthMiddleware<BasicRequestContext>.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!AuthMiddleware<BasicRequestContext>.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!AuthMiddleware<BasicRequestContext>.constantTimeEqual(Array("ab".utf8), Array("abc".utf8)))
    }
}
