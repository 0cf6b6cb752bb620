import Tensor
import TestSupport
import Testing

@testable import Diffusion

@Suite struct PromptParserTests {
    typealias F = ParsedPrompt.Fragment

    func parse(_ prompt: String) throws -> [F] { try PromptParser.parse(prompt).fragments }

    /// The examples in A1111's `parse_prompt_attention` docstring (modules/prompt_parser.py).
    @Test func a1111DocumentedExamples() throws {
        #expect(try parse("normal text") == [.text("normal text", weight: 1)])
        #expect(try parse("an (important) word") == [.text("an ", weight: 1), .text("important", weight: 1.1), .text(" word", weight: 1)])
        #expect(try parse("(unbalanced") == [.text("unbalanced", weight: 1.1)])
        #expect(try parse("\\(literal\\]") == [.text("(literal]", weight: 1)])
        #expect(try parse("(unnecessary)(parens)") == [.text("unnecessaryparens", weight: 1.1)])
    }

    /// The worked example of engine-reference 5 and A1111's docstring, to the last bit of the doubles.
    @Test func workedExampleWeights() throws {
        let fragments = try parse("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).")
        #expect(fragments == [
            .text("a ", weight: 1), .text("house", weight: 1.5730000000000004), .text(" ", weight: 1.1),
            .text("on", weight: 1), .text(" a ", weight: 1.1), .text("hill", weight: 0.55),
            .text(", sun, ", weight: 1.1), .text("sky", weight: 1.4641000000000006), .text(".", weight: 1.1),
        ])
    }

    @Test func nestingSquareBracketsAndExplicitWeights() throws {
        #expect(try parse("((word))") == [.text("word", weight: 1.1 * 1.1)])
        #expect(try parse("[word]") == [.text("word", weight: 1 / 1.1)])
        #expect(try parse("[[word]]") == [.text("word", weight: (1 / 1.1) * (1 / 1.1))])
        #expect(try parse("(word:1.3)") == [.text("word", weight: 1.3)])
        #expect(try parse("(word:.5) (x:+2) (y:-1.)") == [
            .text("word", weight: 0.5), .text(" ", weight: 1), .text("x", weight: 2), .text(" ", weight: 1),
            .text("y", weight: -1),
        ])
        // `:w)` needs no spaces: "( w : 1.2 )" is text with a colon, closed by ")" (×1.1).
        #expect(try parse("(w : 1.2)") == [.text("w : 1.2", weight: 1.1)])
        // A weight with nothing to close, and stray closers, are literal text.
        #expect(try parse("a:1.2) b] c)") == [.text("a:1.2) b] c)", weight: 1)])
        #expect(try parse("[unclosed (both") == [.text("unclosed ", weight: 1 / 1.1), .text("both", weight: 1.1 * (1 / 1.1))])
        #expect(try parse("time 12:30") == [.text("time 12:30", weight: 1)])
    }

    @Test func escapes() throws {
        #expect(try parse("\\(a\\) \\[b\\] \\\\c") == [.text("(a) [b] \\c", weight: 1)])
        // A lone backslash vanishes (A1111 appends text[1:] = "").
        #expect(try parse("C:\\path") == [.text("C:path", weight: 1)])
        #expect(try parse("(\\(x\\))") == [.text("(x)", weight: 1.1)])
    }

    @Test func emptyAndWhitespacePrompts() throws {
        #expect(try parse("") == [.text("", weight: 1)])
        #expect(try parse("()") == [.text("", weight: 1)])
        #expect(try parse("  ") == [.text("  ", weight: 1)])
    }

    @Test func breakSplitsOnWholeWordsOnly() throws {
        #expect(try parse("a cat BREAK a dog") == [.text("a cat", weight: 1), .chunkBreak, .text("a dog", weight: 1)])
        #expect(try parse("BREAK") == [.text("", weight: 1), .chunkBreak, .text("", weight: 1)])
        #expect(try parse("BREAKFAST, BREAKING, break, a_BREAK") == [.text("BREAKFAST, BREAKING, break, a_BREAK", weight: 1)])
        #expect(try parse("x,BREAK,y") == [.text("x,", weight: 1), .chunkBreak, .text(",y", weight: 1)])
        #expect(try parse("a BREAK BREAK b") == [
            .text("a", weight: 1), .chunkBreak, .text("", weight: 1), .chunkBreak, .text("b", weight: 1),
        ])
        // Inside brackets A1111 no longer sees weight -1, so "BREAK" stays a (negatively weighted) word.
        #expect(try parse("(a BREAK b)") == [
            .text("a", weight: 1.1), .text("BREAK", weight: -1.1), .text("b", weight: 1.1),
        ])
    }

    @Test func extraNetworkTagsAreRemovedAndReturned() throws {
        let parsed = try PromptParser.parse("<lora:my_lora:0.8> a (red:1.2) circle <hypernet:h> <lora:other:1:0.5>")
        #expect(parsed.fragments == [.text(" a ", weight: 1), .text("red", weight: 1.2), .text(" circle  ", weight: 1)])
        #expect(parsed.loras.map(\.name) == ["my_lora", "other"])
        #expect(parsed.loras.map(\.multiplier) == [0.8, 1])
        #expect(parsed.extraNetworks.map(\.kind) == ["lora", "hypernet", "lora"])
        #expect(try PromptParser.parse("a <b> <:x> <lora:> c").extraNetworks.isEmpty)
    }

    @Test func invalidWeightThrows() {
        #expect(throws: TokenizerError.invalidWeight(prompt: "(a:1.2.3)", weight: "1.2.3")) { try PromptParser.parse("(a:1.2.3)") }
        #expect(throws: TokenizerError.self) { try PromptParser.parse("(a:.)") }
    }
}

@Suite struct TokenizedPromptTests {
    let bos = 49406, eos = 49407, red = 736

    @Test func emptyPromptGivesOneChunkPerFamily() throws {
        let tokenizer = try shippedTokenizer()
        let l = try TokenizedPrompt("", tokenizer: tokenizer, padding: .endOfText)
        #expect(l.ids == [bos] + Array(repeating: eos, count: 76))
        #expect(l.endPositions == [1] && l.chunkCount == 1 && !l.isWeighted)
        let h = try TokenizedPrompt("", tokenizer: tokenizer, padding: .zero)
        #expect(h.ids == [bos, eos] + Array(repeating: 0, count: 75))
        let g = try TokenizedPrompt("", tokenizer: tokenizer, padding: .zeroAfterEnd)
        #expect(g.ids == [bos, eos] + Array(repeating: 0, count: 75))
    }

    @Test func paddingPerFamily() throws {
        let tokenizer = try shippedTokenizer()
        let body = [320, 736, 7117]  // "a red circle"
        let l = try TokenizedPrompt("a red circle", tokenizer: tokenizer, padding: .endOfText)
        #expect(l.ids == [bos] + body + Array(repeating: eos, count: 73))
        let h = try TokenizedPrompt("a red circle", tokenizer: tokenizer, padding: .zero)
        #expect(h.ids == [bos] + body + [eos] + Array(repeating: 0, count: 72))
        // bigG: zero after the FIRST end-of-text, even one written in the prompt.
        let g = try TokenizedPrompt("a red <|endoftext|> circle", tokenizer: tokenizer, padding: .zeroAfterEnd)
        #expect(g.ids == [bos, 320, 736, eos] + Array(repeating: 0, count: 73))
        #expect(g.endPositions == [3])
        #expect(l.weights == Array(repeating: 1, count: 77))
    }

    @Test func twoHundredTokenPromptIsChunkedInSeventyFives() throws {
        let tokenizer = try shippedTokenizer()
        let prompt = Array(repeating: "red", count: 199).joined(separator: " ") + " (red:1.5)"
        let t = try TokenizedPrompt(prompt, tokenizer: tokenizer, padding: .endOfText)
        #expect(t.chunkCount == 3 && t.ids.count == 3 * 77)
        for c in 0..<2 {
            #expect(Array(t.chunkIDs(c)) == [bos] + Array(repeating: red, count: 75) + [eos])
            #expect(t.endPositions[c] == 76)
        }
        #expect(Array(t.chunkIDs(2)) == [bos] + Array(repeating: red, count: 50) + Array(repeating: eos, count: 26))
        #expect(t.endPositions[2] == 51)
        // The weighted last token is the 200th: chunk 2, position 50.
        #expect(t.weights[2 * 77 + 50] == 1.5 && t.weights.filter { $0 != 1 }.count == 1)
        let g = try TokenizedPrompt(prompt, tokenizer: tokenizer, padding: .zeroAfterEnd)
        #expect(Array(g.chunkIDs(2)) == [bos] + Array(repeating: red, count: 50) + [eos] + Array(repeating: 0, count: 25))
        #expect(Array(g.chunkIDs(0)) == Array(t.chunkIDs(0)))
        let seventyFive = try TokenizedPrompt(Array(repeating: "red", count: 75).joined(separator: " "), tokenizer: tokenizer, padding: .zero)
        #expect(seventyFive.chunkCount == 1 && seventyFive.ids.last == eos)
    }

    @Test func breakPadsTheChunkWithEndOfText() throws {
        let tokenizer = try shippedTokenizer()
        let t = try TokenizedPrompt("a red circle BREAK (blue:1.2)", tokenizer: tokenizer, padding: .zero)
        #expect(t.chunkCount == 2)
        #expect(Array(t.chunkIDs(0)) == [bos, 320, 736, 7117] + Array(repeating: eos, count: 73))
        #expect(t.endPositions == [4, 2])
        #expect(Array(t.chunkIDs(1)) == [bos, 1746, eos] + Array(repeating: 0, count: 74))
        #expect(Array(t.chunkWeights(1)) == [1, 1.2] + Array(repeating: 1, count: 75))
        // BREAK at a chunk boundary (or at the start) adds nothing.
        let start = try TokenizedPrompt("BREAK a", tokenizer: tokenizer, padding: .endOfText)
        #expect(start.chunkCount == 1 && Array(start.ids.prefix(3)) == [bos, 320, eos])
    }

    @Test func fragmentsAreTokenizedSeparatelyWithTheirWeights() throws {
        let tokenizer = try shippedTokenizer()
        let t = try TokenizedPrompt("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", tokenizer: tokenizer, padding: .endOfText)
        let expected: [(Int, Float)] = [
            (320, 1), (1212, Float(1.5730000000000004)), (525, 1), (320, Float(1.1)), (2682, 0.55),
            (267, Float(1.1)), (2176, Float(1.1)), (267, Float(1.1)), (2390, Float(1.4641000000000006)), (269, Float(1.1)),
        ]
        #expect(Array(t.ids[1...expected.count]) == expected.map(\.0))
        #expect(Array(t.weights[1...expected.count]) == expected.map(\.1))
        #expect(t.ids[expected.count + 1] == eos && t.endPositions == [expected.count + 1])
    }
}

@Suite struct PromptWeightApplicationTests {
    /// Naive reference of engine-reference 5 in Double: per chunk mu0 = mean(H); H[t,:] *= w_t;
    /// mu1 = mean(H); H *= mu0/mu1.
    func reference(_ h: [Float], weights: [Float], width: Int) -> [Float] {
        var out = h.map(Double.init)
        let chunkSize = 77 * width
        for c in 0..<(weights.count / 77) {
            let range = (c * chunkSize)..<((c + 1) * chunkSize)
            let chunkWeights = weights[(c * 77)..<((c + 1) * 77)]
            if chunkWeights.allSatisfy({ $0 == 1 }) { continue }
            let mu0 = out[range].reduce(0, +) / Double(chunkSize)
            for (t, w) in chunkWeights.enumerated() {
                for d in 0..<width { out[c * chunkSize + t * width + d] *= Double(w) }
            }
            let mu1 = out[range].reduce(0, +) / Double(chunkSize)
            for k in range { out[k] *= mu0 / mu1 }
        }
        return out.map(Float.init)
    }

    @Test func weightsScaleRowsAndRestoreEachChunksMean() {
        let width = 8
        let h = pseudoRandomTensor([1, 2 * 77, width], seed: 7) + Tensor(shape: [1], values: [0.3])
        var weights = [Float](repeating: 1, count: 2 * 77)
        weights[3] = 1.5730000000000004
        weights[4] = 0.55
        weights[10] = 1.1
        let out = TokenizedPrompt.applyingWeights(weights, to: h)
        #expect(out.shape == h.shape)
        let expected = reference(h.scalars, weights: weights, width: width)
        let error = nmse(out.scalars, expected)
        // Measured: NMSE 2.1e-15, max abs 1.2e-7 (Float rounding against the Double reference).
        #expect(error <= 1e-12, "\(describeDifference(out.scalars, expected))")
        #expect(maxAbsDifference(out.scalars, expected) <= 1e-6)
        // Chunk 0's mean is unchanged; chunk 1 (all weights 1) is bit-identical.
        let chunk0 = out.narrowed(axis: 1, start: 0, length: 77).mean()
        #expect(abs(chunk0 - h.narrowed(axis: 1, start: 0, length: 77).mean()) <= 1e-6)
        #expect(out.narrowed(axis: 1, start: 77, length: 77).scalars == h.narrowed(axis: 1, start: 77, length: 77).scalars)
    }

    @Test func unweightedOrZeroMeanStatesAreLeftAlone() {
        let h = pseudoRandomTensor([77, 4], seed: 3)
        #expect(TokenizedPrompt.applyingWeights(Array(repeating: 1, count: 77), to: h).scalars == h.scalars)
        // All-zero states: mu1 = 0, no rescale (and no NaN).
        let zeros = Tensor(shape: [77, 4], repeating: 0)
        var w = [Float](repeating: 1, count: 77)
        w[5] = 2
        #expect(TokenizedPrompt.applyingWeights(w, to: zeros).scalars.allSatisfy { $0 == 0 })
    }
}
