import Foundation

/// The `normalizer` of a `tokenizer.json`, as far as SentencePiece-converted files use it.
///
/// Implemented (tokenizers 0.23 semantics): `Sequence`, `Precompiled` (see `PrecompiledCharsMap`),
/// `Replace` with a `String` or `Regex` pattern, `Strip`, `NFC`/`NFD`/`NFKC`/`NFKD`, `Lowercase`,
/// `Prepend`. Anything else is refused with `TokenizerError.unsupported`, since running a
/// different normalization would change ids silently. `Regex` patterns run on ICU
/// (`NSRegularExpression`) where tokenizers uses Oniguruma; the patterns converters write
/// (` {2,}`, `\A +| +\z`, `\A▁`) mean the same in both.
enum T5Normalizer: Sendable {
    case sequence([T5Normalizer])
    case precompiled(PrecompiledCharsMap)
    case replaceString(pattern: String, content: String)
    case replaceRegex(NSRegularExpressionBox, content: String)
    case strip(left: Bool, right: Bool)
    case unicode(UnicodeForm)
    case lowercase
    case prepend(String)

    enum UnicodeForm: Sendable { case nfc, nfd, nfkc, nfkd }

    /// Parses a normalizer object; JSON null is the identity (an empty sequence).
    init(json value: Any?, path: String, file: String) throws {
        if value == nil || value is NSNull {
            self = .sequence([])
            return
        }
        let object = try TokenizerJSONObject(value, path: path, file: file)
        switch try object.type() {
        case "Sequence":
            let children = try object.array("normalizers")
            self = .sequence(
                try children.enumerated().map { try T5Normalizer(json: $1, path: "\(path).normalizers[\($0)]", file: file) })
        case "Precompiled":
            let encoded = try object.string("precompiled_charsmap")
            guard let blob = Data(base64Encoded: encoded) else { throw object.malformed("precompiled_charsmap is not base64") }
            self = .precompiled(try PrecompiledCharsMap(Array(blob), file: file))
        case "Replace":
            let content = try object.string("content")
            let pattern = try object.object("pattern")
            if !pattern.isNull("String") {
                self = .replaceString(pattern: try pattern.string("String"), content: content)
            } else if !pattern.isNull("Regex") {
                let source = try pattern.string("Regex")
                do {
                    self = .replaceRegex(NSRegularExpressionBox(try NSRegularExpression(pattern: source)), content: content)
                } catch { throw pattern.unsupported("regex '\(source)' does not compile: \(error)") }
            } else {
                throw pattern.malformed("neither String nor Regex")
            }
        case "Strip":
            // tokenizers serializes the fields as strip_left / strip_right.
            self = .strip(left: try object.bool("strip_left", default: true), right: try object.bool("strip_right", default: true))
        case "NFC": self = .unicode(.nfc)
        case "NFD": self = .unicode(.nfd)
        case "NFKC": self = .unicode(.nfkc)
        case "NFKD": self = .unicode(.nfkd)
        case "Lowercase": self = .lowercase
        case "Prepend": self = .prepend(try object.string("prepend"))
        case let other:
            throw object.unsupported(
                "normalizer type '\(other)' (implemented: Sequence, Precompiled, Replace, Strip, NFC, NFD, NFKC, NFKD, Lowercase, Prepend)")
        }
    }

    func callAsFunction(_ text: String) -> String {
        switch self {
        case .sequence(let steps): return steps.reduce(text) { $1($0) }
        case .precompiled(let map): return map.normalize(text)
        case .replaceString(let pattern, let content):
            // Non-overlapping, left to right, as Rust's `str::match_indices`; scalar-exact (no
            // canonical equivalence, unlike String's own comparison).
            return Self.replacingScalars(text, pattern, content)
        case .replaceRegex(let regex, let content):
            let range = NSRange(text.startIndex..., in: text)
            return regex.value.stringByReplacingMatches(
                in: text, range: range, withTemplate: NSRegularExpression.escapedTemplate(for: content))
        case .strip(let left, let right):
            var scalars = Array(text.unicodeScalars)
            if right { while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() } }
            var start = 0
            if left { while start < scalars.count, scalars[start].properties.isWhitespace { start += 1 } }
            var out = String.UnicodeScalarView()
            out.append(contentsOf: scalars[start...])
            return String(out)
        case .unicode(let form):
            switch form {
            case .nfc: return text.precomposedStringWithCanonicalMapping
            case .nfd: return text.decomposedStringWithCanonicalMapping
            case .nfkc: return text.precomposedStringWithCompatibilityMapping
            case .nfkd: return text.decomposedStringWithCompatibilityMapping
            }
        case .lowercase: return text.lowercased()
        case .prepend(let prefix): return text.isEmpty ? text : prefix + text
        }
    }

    /// `text` with every non-overlapping occurrence of `pattern` (compared scalar by scalar)
    /// replaced by `content`.
    static func replacingScalars(_ text: String, _ pattern: String, _ content: String) -> String {
        let source = Array(text.unicodeScalars), needle = Array(pattern.unicodeScalars)
        guard !needle.isEmpty, source.count >= needle.count else { return text }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < source.count {
            if i + needle.count <= source.count, source[i..<(i + needle.count)].elementsEqual(needle) {
                out.append(contentsOf: content.unicodeScalars)
                i += needle.count
            } else {
                out.append(source[i])
                i += 1
            }
        }
        return String(out)
    }
}

/// `NSRegularExpression` is immutable and documented thread-safe, but not marked `Sendable`.
struct NSRegularExpressionBox: @unchecked Sendable {
    let value: NSRegularExpression
    init(_ value: NSRegularExpression) { self.value = value }
}
