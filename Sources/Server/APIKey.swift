/// The API key `sd serve` requires, as read from `API_KEY`: checked at start-up so that a
/// mistake in setting it never turns authentication off silently or makes it unusable.
///
/// - unset: no key (every endpoint is open);
/// - empty or only whitespace: refused (`API_KEY=` is more likely a failed substitution than a
///   wish to run without a key; unset the variable for that);
/// - surrounding whitespace (a key pasted or read from a file with its newline): trimmed;
/// - whitespace inside: refused, since the `Authorization: Bearer <key>` header is split at
///   spaces and such a key could never match.
public struct APIKey: Sendable, Equatable {
    /// The key clients must send.
    public let value: String
    /// Whether whitespace around the variable's value was removed (worth a warning).
    public let wasTrimmed: Bool

    /// The key in `environmentValue` (the `API_KEY` variable), or nil when it is unset.
    /// - Throws: `APIKey.Problem` for an empty key or one with whitespace inside.
    public init?(environmentValue: String?) throws {
        guard let raw = environmentValue else { return nil }
        let trimmed = raw.trimmingWhitespace()
        try Self.check(trimmed)
        value = trimmed
        wasTrimmed = trimmed != raw
    }

    /// Refuses a key no client could send.
    /// - Throws: `APIKey.Problem`.
    public static func check(_ key: String) throws {
        guard !key.isEmpty else { throw Problem.empty }
        guard !key.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else { throw Problem.innerWhitespace }
    }

    /// Why a key was refused.
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case empty
        case innerWhitespace

        public var description: String {
            switch self {
            case .empty:
                "API_KEY is set but empty: unset it to serve without authentication, or give it a key"
            case .innerWhitespace:
                "API_KEY contains whitespace, which 'Authorization: Bearer <key>' cannot carry; use a key without spaces"
            }
        }
    }
}

extension String {
    /// Without leading and trailing Unicode whitespace (newlines included).
    fileprivate func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
