import Foundation
import Testing

@testable import Diffusion

/// The tokenizer shipped with the built-in model (Weights/tiny-shapes: CLIP's real 49,408-id vocabulary).
func shippedTokenizer() throws -> CLIPTokenizer {
    let folder = repositoryRoot.appendingPathComponent("Weights/tiny-shapes")
    return try CLIPTokenizer(
        vocabulary: folder.appendingPathComponent("vocab.json"), merges: folder.appendingPathComponent("merges.txt"))
}

@Suite struct CLIPTokenizerTests {
    struct GoldenFile: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
        }
        let cases: [Case]
    }

    /// Ids from Hugging Face transformers' `CLIPTokenizer` for 60 hard prompts (unicode, accents, CJK,
    /// Arabic, emoji and ZWJ sequences, punctuation runs, numbers, contractions, URLs, whitespace
    /// runs, upper case, a 769-token prompt, the empty string, the special-token strings).
    /// Fixture made by `python Tests/Golden/generate_tokenizer_goldens.py` (transformers 5.24).
    @Test func idsEqualHuggingFaceCLIPTokenizer() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("clip_tokenizer_goldens.json")))
        let golden = try JSONDecoder().decode(GoldenFile.self, from: data)
        #expect(golden.cases.count >= 60)
        let tokenizer = try shippedTokenizer()
        var mismatches: [String] = []
        for c in golden.cases {
            let ids = tokenizer.encode(c.text)
            if ids != c.ids { mismatches.append("\(c.text.debugDescription): got \(ids), expected \(c.ids)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(golden.cases.count) differ:\n\(mismatches.joined(separator: "\n"))")
        // The cache must not change results: encode everything a second time.
        for c in golden.cases { #expect(tokenizer.encode(c.text) == c.ids) }
    }

    @Test func knownIDsAndSpecialTokens() throws {
        let tokenizer = try shippedTokenizer()
        #expect(tokenizer.vocabularySize == 49408)
        #expect(tokenizer.startOfTextID == 49406 && tokenizer.endOfTextID == 49407)
        #expect(tokenizer.encode("a red circle on a blue background") == [320, 736, 7117, 525, 320, 1746, 5994])
        #expect(tokenizer.encode("") == [])
        #expect(tokenizer.encode("a <|endoftext|>") == [320, 49407])
    }

    @Test func loadsTheVocabularyWellUnderASecond() throws {
        let clock = ContinuousClock()
        var tokenizer: CLIPTokenizer?
        let elapsed = try clock.measure { tokenizer = try shippedTokenizer() }
        #expect(tokenizer != nil)
        // Measured about 0.1 s in release on the 2-core development machine.
        #expect(elapsed < .seconds(1), "loading vocab.json + merges.txt took \(elapsed)")
    }

    @Test func byteSymbolsFollowGPT2Order() {
        let symbols = CLIPTokenizer.byteSymbols
        #expect(Set(symbols).count == 256)
        #expect(symbols[Int(UInt8(ascii: "a"))] == "a" && symbols[0] == "\u{100}" && symbols[32] == "\u{120}")
        #expect(symbols[173] == "\u{143}")  // soft hyphen: the last of the 68 remapped bytes
    }

    @Test func malformedFilesThrowTypedErrors() throws {
        let folder = repositoryRoot.appendingPathComponent("Weights/tiny-shapes")
        let merges = try Data(contentsOf: folder.appendingPathComponent("merges.txt"))
        let vocabulary = try Data(contentsOf: folder.appendingPathComponent("vocab.json"))
        #expect(throws: TokenizerError.self) {
            try CLIPTokenizer(vocabularyData: Data("[1, 2]".utf8), mergesData: merges)
        }
        #expect(throws: TokenizerError.self) {
            try CLIPTokenizer(vocabularyData: Data("{\"a\": 0}".utf8), mergesData: merges)
        }
        #expect(throws: TokenizerError.malformed(file: "merges.txt", reason: "line 2 'q zz' is not a merge of two vocabulary symbols")) {
            try CLIPTokenizer(vocabularyData: vocabulary, mergesData: Data("#version: 0.2\nq zz\n".utf8))
        }
        #expect(throws: TokenizerError.self) {
            try CLIPTokenizer(vocabulary: folder.appendingPathComponent("missing.json"), merges: folder.appendingPathComponent("merges.txt"))
        }
    }
}
