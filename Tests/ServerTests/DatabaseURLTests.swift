@testable import Server
import Testing

@Suite struct DatabaseURLTests {
    @Test func partsOfAFullURL() throws {
        let url = try DatabaseURL("postgres://sd:s%40cret@db.example:6543/jobs?sslmode=require")
        #expect(url.host == "db.example")
        #expect(url.port == 6543)
        #expect(url.username == "sd")
        #expect(url.password == "s@cret")
        #expect(url.database == "jobs")
        #expect(url.tls == .require)
        #expect(!url.redacted.contains("cret"))
    }

    @Test func defaults() throws {
        let url = try DatabaseURL("postgresql://sd@[::1]")
        #expect(url.host == "::1")
        #expect(url.port == 5432)
        #expect(url.password == nil)
        #expect(url.database == nil)
        #expect(url.tls == .prefer)
        #expect(try DatabaseURL("postgres://a@h/d?sslmode=disable").tls == .disable)
    }

    @Test(arguments: ["mysql://a@h/d", "postgres:///d", "postgres://h/d", "postgres://a@h:0/d", "postgres://a@h/d?sslmode=weird", "not a url"])
    func refused(_ text: String) {
        #expect(throws: DatabaseURL.Invalid.self) { try DatabaseURL(text) }
    }
}
