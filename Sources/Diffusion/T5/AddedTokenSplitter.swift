/// The `added_tokens` of a `tokenizer.json` (`<pad>`, `</s>`, `<unk>`, `<extra_id_N>`): strings
/// that become their id wherever they occur, matched before the rest of the pipeline.
///
/// Matches tokenizers 0.23 `AddedVocabulary`: tokens with `normalized: false` are found in the raw
/// text, those with `normalized: true` in each normalized remainder; at each position the longest
/// token wins and the scan resumes after it (leftmost-longest). `lstrip` / `rstrip` swallow the
/// whitespace before / after a match. `single_word` tokens are refused.
struct AddedTokenSplitter: Sendable {
    struct Token: Sendable {
        let content: [Unicode.Scalar]
        let id: Int
        let leftStrip: Bool
        let rightStrip: Bool
    }

    /// One stretch of text: an added token's id, or text still to be tokenized.
    enum Segment: Equatable {
        case token(Int)
        case text(String)
    }

    private let tokens: [Token]
    /// Token indices by first scalar, longest first.
    private let byFirstScalar: [Unicode.Scalar: [Int]]

    init(_ tokens: [Token]) {
        self.tokens = tokens
        var index: [Unicode.Scalar: [Int]] = [:]
        for (i, token) in tokens.enumerated() {
            guard let first = token.content.first else { continue }
            index[first, default: []].append(i)
        }
        byFirstScalar = index.mapValues { $0.sorted { tokens[$0].content.count > tokens[$1].content.count } }
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Splits `text` into added tokens and the text between them (empty stretches dropped).
    func split(_ text: String) -> [Segment] {
        guard !tokens.isEmpty else { return text.isEmpty ? [] : [.text(text)] }
        let scalars = Array(text.unicodeScalars)
        var segments: [Segment] = []
        var pending: [Unicode.Scalar] = []
        var i = 0
        var stripNextWhitespace = false
        func flush() {
            if !pending.isEmpty { segments.append(.text(String(String.UnicodeScalarView(pending)))) }
            pending.removeAll()
        }
        while i < scalars.count {
            if let match = longestMatch(scalars, at: i) {
                let token = tokens[match]
                if token.leftStrip { while let last = pending.last, last.properties.isWhitespace { pending.removeLast() } }
                flush()
                segments.append(.token(token.id))
                i += token.content.count
                stripNextWhitespace = token.rightStrip
                continue
            }
            if stripNextWhitespace && scalars[i].properties.isWhitespace {
                i += 1
                continue
            }
            stripNextWhitespace = false
            pending.append(scalars[i])
            i += 1
        }
        flush()
        return segments
    }

    private func longestMatch(_ scalars: [Unicode.Scalar], at i: Int) -> Int? {
        guard let candidates = byFirstScalar[scalars[i]] else { return nil }
        for candidate in candidates {
            let content = tokens[candidate].content
            if i + content.count <= scalars.count, scalars[i..<(i + content.count)].elementsEqual(content) { return candidate }
        }
        return nil
    }
}
