import Foundation

/// One JSON object of a Hugging Face `tokenizer.json`, read with errors that name the file and the
/// member's path (`normalizer.normalizers[1].pattern`), so a file we cannot run says where.
struct TokenizerJSONObject {
    let members: [String: Any]
    /// Where this object sits in the file, e.g. `pre_tokenizer.pretokenizers[0]`.
    let path: String
    /// The file's name for error messages.
    let file: String

    init(_ value: Any?, path: String, file: String) throws {
        guard let members = value as? [String: Any] else {
            throw TokenizerError.malformed(file: file, reason: "\(path) is not a JSON object")
        }
        self.members = members
        self.path = path
        self.file = file
    }

    /// Whether the member is absent or JSON null.
    func isNull(_ key: String) -> Bool { members[key] == nil || members[key] is NSNull }

    func object(_ key: String) throws -> TokenizerJSONObject {
        try TokenizerJSONObject(members[key], path: "\(path).\(key)", file: file)
    }

    func objects(_ key: String) throws -> [TokenizerJSONObject] {
        guard let values = members[key] as? [Any] else { throw malformed("\(key) is not an array") }
        return try values.enumerated().map { try TokenizerJSONObject($1, path: "\(path).\(key)[\($0)]", file: file) }
    }

    func array(_ key: String) throws -> [Any] {
        guard let values = members[key] as? [Any] else { throw malformed("\(key) is not an array") }
        return values
    }

    func string(_ key: String) throws -> String {
        guard let value = members[key] as? String else { throw malformed("\(key) is not a string") }
        return value
    }

    /// A boolean member, `defaultValue` when absent (tokenizers' serde defaults).
    func bool(_ key: String, default defaultValue: Bool? = nil) throws -> Bool {
        if isNull(key), let defaultValue { return defaultValue }
        guard let value = members[key] as? Bool else { throw malformed("\(key) is not a boolean") }
        return value
    }

    func int(_ key: String) throws -> Int {
        guard let number = members[key] as? NSNumber, let value = Int(exactly: number.doubleValue) else {
            throw malformed("\(key) is not an integer")
        }
        return value
    }

    /// The `type` member that every normalizer, pre-tokenizer, model and processor carries.
    func type() throws -> String { try string("type") }

    func malformed(_ reason: String) -> TokenizerError { .malformed(file: file, reason: "\(path): \(reason)") }
    func unsupported(_ reason: String) -> TokenizerError { .unsupported(file: file, reason: "\(path): \(reason)") }
}
