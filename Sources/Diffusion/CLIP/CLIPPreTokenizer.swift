import Foundation

/// CLIP's text clean-up and pre-tokenisation: text -> words that BPE encodes one by one.
///
/// Matches Hugging Face transformers 5.x `CLIPTokenizer` (the `tokenizers`-backed class, the only one
/// in 5.x): normaliser `NFC`, `Replace(\s+, " ")`, `Lowercase` (per code point, no context: a final
/// capital sigma becomes `σ`), then the split regex
/// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// with whitespace dropped, then the GPT-2 `ByteLevel` split. transformers 5.x does not run ftfy
/// (even when installed) nor HTML unescaping, unlike OpenAI's `simple_tokenizer` and transformers
/// 4.x's slow tokenizer; stable-diffusion.cpp lowercases ASCII only and treats non-ASCII letters as
/// punctuation (engine-reference 5). Special-token strings are split out of the raw text by
/// `CLIPTokenizer` before this runs.
enum CLIPPreTokenizer {
    /// The words of `text` (already free of exact special-token strings), each as Unicode scalars.
    static func words(_ text: String) -> [[Unicode.Scalar]] {
        let scalars = normalized(text)
        var words: [[Unicode.Scalar]] = []
        var i = 0
        while i < scalars.count {
            let length = matchLength(scalars, at: i)
            if length == 0 {
                i += 1  // whitespace: no alternative of the split regex starts here
                continue
            }
            let word = Array(scalars[i..<(i + length)])
            if isSpecialLiteral(word) {
                // The lowercased `<|ENDOFTEXT|>` reaches the regex's literal alternative; the
                // ByteLevel pre-tokenizer's GPT-2 regex then splits it into "<|", name, "|>".
                words.append(Array(word[0..<2]))
                words.append(Array(word[2..<(word.count - 2)]))
                words.append(Array(word[(word.count - 2)...]))
            } else {
                words.append(word)
            }
            i += length
        }
        return words
    }

    /// NFC, whitespace runs to one space, per-scalar full lowercase mapping (in that order, as HF).
    static func normalized(_ text: String) -> [Unicode.Scalar] {
        let composed = text.precomposedStringWithCanonicalMapping
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(composed.unicodeScalars.count)
        var inSpace = false
        for scalar in composed.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !inSpace { out.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            if scalar.properties.changesWhenLowercased {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return out
    }

    static let specialLiterals: [[Unicode.Scalar]] = [
        Array("<|startoftext|>".unicodeScalars), Array("<|endoftext|>".unicodeScalars),
    ]
    static let contractions: [[Unicode.Scalar]] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map {
        Array($0.unicodeScalars)
    }

    /// Length of the split regex's match at `i` (alternatives tried in the regex's order), 0 if none.
    static func matchLength(_ s: [Unicode.Scalar], at i: Int) -> Int {
        for literal in specialLiterals + contractions where hasPrefix(s, literal, at: i) {
            return literal.count
        }
        if isLetter(s[i]) {
            var j = i + 1
            while j < s.count && isLetter(s[j]) { j += 1 }
            return j - i
        }
        if isNumber(s[i]) { return 1 }  // `[\p{N}]`: each digit is its own word
        var j = i
        while j < s.count && !s[j].properties.isWhitespace && !isLetter(s[j]) && !isNumber(s[j]) { j += 1 }
        return j - i
    }

    static func hasPrefix(_ s: [Unicode.Scalar], _ prefix: [Unicode.Scalar], at i: Int) -> Bool {
        guard i + prefix.count <= s.count else { return false }
        for k in 0..<prefix.count where s[i + k] != prefix[k] { return false }
        return true
    }

    static func isSpecialLiteral(_ word: [Unicode.Scalar]) -> Bool { specialLiterals.contains(word) }

    /// `\p{L}`
    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }

    /// `\p{N}`
    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: true
        default: false
        }
    }
}
