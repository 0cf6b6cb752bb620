import Foundation

/// The `pre_tokenizer` of a SentencePiece-converted `tokenizer.json`: splits normalized text into
/// the pieces the Unigram model segments one by one.
///
/// Implemented (tokenizers 0.23 semantics): `Sequence`, `WhitespaceSplit` (split on Unicode
/// White_Space, dropping it) and `Metaspace` (every ' ' becomes the replacement "▁"; with
/// prepend_scheme "always" — or the older `add_prefix_space: true` — "▁" is put in front of a piece
/// that does not start with it; with `split` the piece is cut before every "▁", each "▁" staying
/// with the text after it). prepend_scheme "first" depends on offsets into the original text and
/// is refused, as are other pre-tokenizer types. JSON null means the whole text is one piece.
enum T5PreTokenizer: Sendable {
    case sequence([T5PreTokenizer])
    case whitespaceSplit
    case metaspace(replacement: Character, prepend: Bool, split: Bool)

    init(json value: Any?, path: String, file: String) throws {
        if value == nil || value is NSNull {
            self = .sequence([])
            return
        }
        let object = try TokenizerJSONObject(value, path: path, file: file)
        switch try object.type() {
        case "Sequence":
            let children = try object.array("pretokenizers")
            self = .sequence(
                try children.enumerated().map { try T5PreTokenizer(json: $1, path: "\(path).pretokenizers[\($0)]", file: file) })
        case "WhitespaceSplit":
            self = .whitespaceSplit
        case "Metaspace":
            let replacement = try object.string("replacement")
            guard replacement.count == 1, let character = replacement.first else {
                throw object.malformed("replacement '\(replacement)' is not one character")
            }
            let prepend: Bool
            if !object.isNull("prepend_scheme") {
                switch try object.string("prepend_scheme") {
                case "always": prepend = true
                case "never": prepend = false
                case let scheme: throw object.unsupported("Metaspace prepend_scheme '\(scheme)' (implemented: always, never)")
                }
            } else {
                prepend = try object.bool("add_prefix_space", default: true)
            }
            self = .metaspace(replacement: character, prepend: prepend, split: try object.bool("split", default: true))
        case let other:
            throw object.unsupported("pre-tokenizer type '\(other)' (implemented: Sequence, WhitespaceSplit, Metaspace)")
        }
    }

    /// Pieces of `text`, in order; empty pieces are dropped (tokenizers produces no tokens for them).
    func callAsFunction(_ text: String) -> [String] { apply([text]) }

    /// tokenizers' `PreTokenizedString::split` drops empty splits, so no step sees an empty piece
    /// (Metaspace would otherwise turn "" into "▁").
    private func apply(_ input: [String]) -> [String] {
        let pieces = input.filter { !$0.isEmpty }
        switch self {
        case .sequence(let steps): return steps.reduce(pieces) { $1.apply($0) }.filter { !$0.isEmpty }
        case .whitespaceSplit:
            return pieces.flatMap { piece in
                piece.unicodeScalars.split(whereSeparator: { $0.properties.isWhitespace }).map { String(String.UnicodeScalarView($0)) }
            }
        case .metaspace(let replacement, let prepend, let split):
            let marker = replacement.unicodeScalars.first ?? " "
            return pieces.flatMap { piece -> [String] in
                var scalars = String.UnicodeScalarView()
                for scalar in piece.unicodeScalars { scalars.append(scalar == " " ? marker : scalar) }
                // tokenizers checks `starts_with(replacement)` on the replaced text.
                if prepend && scalars.first != marker { scalars.insert(marker, at: scalars.startIndex) }
                guard split else { return [String(scalars)] }
                // MergedWithNext: cut before every marker.
                var out: [String] = [], current = String.UnicodeScalarView()
                for scalar in scalars {
                    if scalar == marker && !current.isEmpty {
                        out.append(String(current))
                        current = String.UnicodeScalarView()
                    }
                    current.append(scalar)
                }
                if !current.isEmpty { out.append(String(current)) }
                return out
            }
        }
    }
}
