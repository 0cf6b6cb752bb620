/// Parses A1111 prompt syntax: attention weights, escapes, `BREAK` and extra-network tags.
///
/// Matches AUTOMATIC1111 stable-diffusion-webui `modules/prompt_parser.py` `parse_prompt_attention`
/// (and `extra_networks.parse_prompt` for `<kind:args>` tags, removed first):
/// - `(text)` multiplies by 1.1, `[text]` by 1/1.1, `(text:w)` by `w`; nesting multiplies; brackets
///   still open at the end are closed there; a `)`/`]`/`:w)` with nothing to close is literal text.
/// - `\(`, `\)`, `\[`, `\]`, `\\` give the literal character; a lone `\` before anything else
///   vanishes (A1111 appends `text[1:]`, the empty string).
/// - `BREAK` as a whole word (`\s*\bBREAK\b\s*`, surrounding whitespace eaten) splits the chunk.
/// - Adjacent runs of exactly equal weight are merged; an empty prompt gives one empty run.
///
/// Weights are `Double` and multiplied in A1111's order, so `(((house:1.3))` gives 1.5730000000000004.
///
/// Where stable-diffusion.cpp's port (`util.cpp`) differs: it un-escapes only `\(` (`\)`, `\[`, `\]`,
/// `\\` and a lone `\` keep their backslash), it multiplies in `Float`, and a `:w)` with no open `(`
/// is dropped instead of kept as text. A1111 keeps a `BREAK` inside brackets as the word "BREAK"
/// with weight -1 times the brackets' factor (its `BREAK` test needs weight exactly -1); here too.
public enum PromptParser {
    /// Parses `prompt`.
    /// - Throws: `TokenizerError.invalidWeight` for `(text:w)` where `w` matches `[+-]?[.\d]+` but is
    ///   not a number (`1.2.3`), which makes A1111 raise as well.
    public static func parse(_ prompt: String) throws -> ParsedPrompt {
        let (text, tags) = extractExtraNetworks(prompt)
        let runs = try parseAttention(text, prompt: prompt)
        let fragments = runs.map { run -> ParsedPrompt.Fragment in
            run.text == "BREAK" && run.weight == -1 ? .chunkBreak : .text(run.text, weight: run.weight)
        }
        return ParsedPrompt(fragments: fragments, extraNetworks: tags)
    }

    // MARK: - Attention (A1111 `parse_prompt_attention`)

    private struct Run {
        var text: String
        var weight: Double
    }

    private static let roundMultiplier = 1.1
    private static let squareMultiplier = 1 / 1.1

    private static func parseAttention(_ text: String, prompt: String) throws -> [Run] {
        let s = Array(text.unicodeScalars)
        var runs: [Run] = []
        var round: [Int] = []
        var square: [Int] = []

        func multiply(from start: Int, by factor: Double) {
            for p in start..<runs.count { runs[p].weight *= factor }
        }
        func appendText(_ part: ArraySlice<Unicode.Scalar>) {
            for (index, piece) in splitOnBreak(part).enumerated() {
                if index > 0 { runs.append(Run(text: "BREAK", weight: -1)) }
                runs.append(Run(text: string(piece), weight: 1))
            }
        }

        // Tokens of A1111's `re_attention`, alternatives in its order.
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "\\" {
                // `\(`, `\)`, `\[`, `\]`, `\\` -> the character; a lone `\` -> "".
                if i + 1 < s.count, "()[]\\".unicodeScalars.contains(s[i + 1]) {
                    runs.append(Run(text: String(Character(s[i + 1])), weight: 1))
                    i += 2
                } else {
                    runs.append(Run(text: "", weight: 1))
                    i += 1
                }
            } else if c == "(" {
                round.append(runs.count)
                i += 1
            } else if c == "[" {
                square.append(runs.count)
                i += 1
            } else if c == ":", let (weightText, end) = weightToken(s, at: i) {
                if let start = round.popLast() {
                    guard let weight = parseNumber(weightText) else {
                        throw TokenizerError.invalidWeight(prompt: prompt, weight: string(weightText[...]))
                    }
                    multiply(from: start, by: weight)
                } else {
                    appendText(s[i..<end])
                }
                i = end
            } else if c == ")" {
                if let start = round.popLast() { multiply(from: start, by: roundMultiplier) } else { appendText(s[i...i]) }
                i += 1
            } else if c == "]" {
                if let start = square.popLast() { multiply(from: start, by: squareMultiplier) } else { appendText(s[i...i]) }
                i += 1
            } else if c == ":" {
                appendText(s[i...i])
                i += 1
            } else {
                var j = i + 1
                while j < s.count && !"\\()[]:".unicodeScalars.contains(s[j]) { j += 1 }
                appendText(s[i..<j])
                i = j
            }
        }
        for start in round { multiply(from: start, by: roundMultiplier) }
        for start in square { multiply(from: start, by: squareMultiplier) }
        if runs.isEmpty { runs = [Run(text: "", weight: 1)] }

        var merged: [Run] = []
        for run in runs {
            if let last = merged.last, last.weight == run.weight {
                merged[merged.count - 1].text += run.text
            } else {
                merged.append(run)
            }
        }
        return merged
    }

    /// `:([+-]?[.\d]+)\)` at `i`: the number's scalars and the index after `)`.
    private static func weightToken(_ s: [Unicode.Scalar], at i: Int) -> ([Unicode.Scalar], Int)? {
        var j = i + 1
        if j < s.count && (s[j] == "+" || s[j] == "-") { j += 1 }
        let digitsStart = j
        while j < s.count && (s[j] == "." || isDecimalDigit(s[j])) { j += 1 }
        guard j > digitsStart, j < s.count, s[j] == ")" else { return nil }
        return (Array(s[(i + 1)..<j]), j + 1)
    }

    /// Python `float()` of `[+-]?[.\d]+` (Unicode decimal digits count, as `\d` and `float` accept them).
    private static func parseNumber(_ scalars: [Unicode.Scalar]) -> Double? {
        var ascii = ""
        for c in scalars {
            if let value = c.properties.numericValue, isDecimalDigit(c) {
                ascii += String(Int(value))
            } else {
                ascii.unicodeScalars.append(c)
            }
        }
        // Python's float accepts "1." and ".5" but not "." or "1.2.3"; Swift's Double(String) agrees.
        return Double(ascii)
    }

    private static func isDecimalDigit(_ c: Unicode.Scalar) -> Bool { c.properties.generalCategory == .decimalNumber }

    // MARK: - BREAK (A1111 `re_break = \s*\bBREAK\b\s*`, `re.split`)

    private static func splitOnBreak(_ s: ArraySlice<Unicode.Scalar>) -> [ArraySlice<Unicode.Scalar>] {
        let keyword = Array("BREAK".unicodeScalars)
        var parts: [ArraySlice<Unicode.Scalar>] = []
        var partStart = s.startIndex
        var i = s.startIndex
        while i + keyword.count <= s.endIndex {
            let end = i + keyword.count
            let isBreak =
                s[i..<end].elementsEqual(keyword) && (i == s.startIndex || !isWordCharacter(s[i - 1]))
                && (end == s.endIndex || !isWordCharacter(s[end]))
            guard isBreak else {
                i += 1
                continue
            }
            // The match starts at the whitespace run before BREAK (not before the last match's end).
            var matchStart = i
            while matchStart > partStart && isPythonSpace(s[matchStart - 1]) { matchStart -= 1 }
            var matchEnd = end
            while matchEnd < s.endIndex && isPythonSpace(s[matchEnd]) { matchEnd += 1 }
            parts.append(s[partStart..<matchStart])
            partStart = matchEnd
            i = matchEnd
        }
        parts.append(s[partStart..<s.endIndex])
        return parts
    }

    /// Python `\w`: `str.isalnum()` or `_`.
    private static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
        c == "_" || CLIPPreTokenizer.isLetter(c) || c.properties.numericType != nil
    }

    /// Python `\s` / `str.isspace()`: Unicode White_Space plus the information separators 0x1C-0x1F.
    static func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || (0x1C...0x1F).contains(c.value)
    }

    // MARK: - Extra networks (A1111 `re_extra_net = <(\w+):([^>]+)>`)

    /// Removes `<kind:args>` tags (kind of word characters, args of anything but `>`), returning them.
    static func extractExtraNetworks(_ prompt: String) -> (String, [ParsedPrompt.ExtraNetworkTag]) {
        let s = Array(prompt.unicodeScalars)
        var out = String.UnicodeScalarView()
        var tags: [ParsedPrompt.ExtraNetworkTag] = []
        var i = 0
        scan: while i < s.count {
            if s[i] == "<" {
                var j = i + 1
                while j < s.count && isWordCharacter(s[j]) { j += 1 }
                if j > i + 1, j < s.count, s[j] == ":" {
                    var k = j + 1
                    while k < s.count && s[k] != ">" { k += 1 }
                    if k > j + 1, k < s.count {
                        let arguments = string(s[(j + 1)..<k]).split(separator: ":", omittingEmptySubsequences: false)
                        tags.append(.init(kind: string(s[(i + 1)..<j]), arguments: arguments.map(String.init)))
                        i = k + 1
                        continue scan
                    }
                }
            }
            out.append(s[i])
            i += 1
        }
        return (String(out), tags)
    }

    private static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var text = String.UnicodeScalarView()
        text.append(contentsOf: scalars)
        return String(text)
    }

    private static func string(_ scalars: [Unicode.Scalar]) -> String { string(scalars[...]) }
}
