import Foundation

/// `postgres://user:password@host:port/database?sslmode=disable` (also `postgresql://`), as
/// libpq writes it: user, password and database percent-decoded; port 5432 when absent;
/// `sslmode` `disable`, `prefer` (the default) or `require` (`verify-ca` / `verify-full` count
/// as `require`). Parsed here because the client library takes the parts, not the URL.
public struct DatabaseURL: Sendable, Equatable {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String?
    public var tls: TLSMode

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// - Throws: `Invalid` saying what is wrong (never echoing the password).
    public init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else { throw Invalid(description: "the database URL must look like postgres://user:password@host:port/database") }
        guard let host = components.host, !host.isEmpty else { throw Invalid(description: "the database URL has no host") }
        guard let user = components.user, !user.isEmpty else { throw Invalid(description: "the database URL has no user name") }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw Invalid(description: "the database URL's port must be 1 to 65535") }
        username = user  // URLComponents has percent-decoded user and password
        password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? nil : path
        let mode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        switch mode {
        case "disable", "allow": tls = .disable
        case "prefer": tls = .prefer
        case "require", "verify-ca", "verify-full": tls = .require
        default: throw Invalid(description: "unknown sslmode '\(mode.prefix(40))' (disable, prefer or require)")
        }
    }

    /// The URL without its password, for logs.
    public var redacted: String {
        "postgres://\(username)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database ?? "")"
    }
}
