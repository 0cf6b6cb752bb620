import Foundation
import Testing

@testable import Diffusion

/// The T5 tokenizer against transformers 5.25 `T5TokenizerFast` on the fixture tokenizer (a
/// SentencePiece Unigram model trained by `python Tests/Golden/generate_t5_goldens.py`: 1000
/// pieces + 10 `<extra_id_N>`, a reduced nmt_nfkc charsmap; see the script and Fixtures/README.md).
@Suite struct T5TokenizerTests {
    struct GoldenFile: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let legacy_ids: [Int]
            let framed: [String: [Int]]
        }
        let cases: [Case]
    }

    static func fixtureData() throws -> Data { try Data(contentsOf: URL(fileURLWithPath: fixturePath("t5_tokenizer.json"))) }
    static func golden() throws -> GoldenFile {
        try JSONDecoder().decode(
            GoldenFile.self, from: Data(contentsOf: URL(fileURLWithPath: fixturePath("t5_tokenizer_goldens.json"))))
    }

    /// The fixture with its normalizer and pre-tokenizer replaced (the rest unchanged).
    static func rewritten(normalizer: Any, preTokenizer: Any) throws -> Data {
        var json = try #require(try JSONSerialization.jsonObject(with: fixtureData()) as? [String: Any])
        json["normalizer"] = normalizer
        json["pre_tokenizer"] = preTokenizer
        return try JSONSerialization.data(withJSONObject: json)
    }

    static func precompiled() throws -> [String: Any] {
        let json = try #require(try JSONSerialization.jsonObject(with: fixtureData()) as? [String: Any])
        return try #require(json["normalizer"] as? [String: Any])
    }

    @Test func idsEqualTransformersT5TokenizerFast() throws {
        let golden = try Self.golden()
        #expect(golden.cases.count >= 45)
        let tokenizer = try T5Tokenizer(tokenizerJSON: URL(fileURLWithPath: fixturePath("t5_tokenizer.json")))
        var mismatches: [String] = []
        for c in golden.cases where tokenizer.encode(c.text) != c.ids {
            mismatches.append("\(c.text.debugDescription): got \(tokenizer.encode(c.text)), expected \(c.ids)")
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(golden.cases.count) differ:\n\(mismatches.joined(separator: "\n"))")
    }

    /// transformers 4.x wrote T5 files with Sequence[Precompiled, Strip(right), Replace(" {2,}" -> "▁")]
    /// and a lone Metaspace (FLUX / SD3 folders); ids from `tokenizers` running that pipeline.
    @Test func olderPipelineFlavourEqualsTokenizers() throws {
        let normalizer: [String: Any] = [
            "type": "Sequence",
            "normalizers": [
                try Self.precompiled(), ["type": "Strip", "strip_left": false, "strip_right": true],
                ["type": "Replace", "pattern": ["Regex": " {2,}"], "content": "\u{2581}"],
            ],
        ]
        let preTokenizer: [String: Any] = ["type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true]
        let tokenizer = try T5Tokenizer(data: Self.rewritten(normalizer: normalizer, preTokenizer: preTokenizer))
        var mismatches: [String] = []
        for c in try Self.golden().cases where tokenizer.encode(c.text) != c.legacy_ids {
            mismatches.append("\(c.text.debugDescription): got \(tokenizer.encode(c.text)), expected \(c.legacy_ids)")
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
    }

    /// diffusers' framing: `tokenizer(prompt, padding="max_length", max_length=n, truncation=True)`.
    @Test func framesEqualTransformersPaddingAndTruncation() throws {
        let tokenizer = try T5Tokenizer(data: Self.fixtureData())
        var truncatedSeen = false
        for c in try Self.golden().cases {
            for (key, expected) in c.framed {
                let length = try #require(Int(key))
                let frame = tokenizer.frame(c.text, length: length)
                #expect(frame.ids == expected, "\(c.text.debugDescription) at \(length)")
                #expect(frame.isTruncated == (c.ids.count > length - 1))
                #expect(frame.tokenCount == min(c.ids.count, length - 1) + 1)
                #expect(Array(frame.ids[..<(frame.tokenCount - 1)]) + frame.truncatedIDs == c.ids)
                truncatedSeen = truncatedSeen || frame.isTruncated
            }
        }
        #expect(truncatedSeen)
    }

    @Test func specialTokenIDs() throws {
        let tokenizer = try T5Tokenizer(data: Self.fixtureData())
        #expect(tokenizer.padID == 0 && tokenizer.endOfSequenceID == 1 && tokenizer.unknownID == 2)
        #expect(tokenizer.vocabularySize == 1010)
        #expect(tokenizer.templatePrefix == [] && tokenizer.templateSuffix == [1])
        #expect(tokenizer.encode("</s>") == [1])
        #expect(tokenizer.frame("", length: 4).ids == [1, 0, 0, 0])
    }

    /// Byte fallback (not in T5's own file): an unknown span becomes its `<0xXX>` pieces.
    @Test func byteFallbackSplitsUnknownSpansIntoBytes() throws {
        func tokenizer(byteFallback: Bool) throws -> T5Tokenizer {
            let vocab: [[Any]] =
                [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["\u{2581}", -1.0], ["a", -2.0], ["<0xC3>", -5.0], ["<0xA9>", -5.0]]
            let json: [String: Any] = [
                "added_tokens": [], "normalizer": NSNull(),
                "pre_tokenizer": ["type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true],
                "post_processor": NSNull(),
                "model": ["type": "Unigram", "unk_id": 2, "vocab": vocab, "byte_fallback": byteFallback],
            ]
            return try T5Tokenizer(data: JSONSerialization.data(withJSONObject: json))
        }
        // "é" = C3 A9; "ü" = C3 BC has no <0xBC> piece, so it stays <unk>; "éé" fuses into one span.
        #expect(try tokenizer(byteFallback: true).encode("aé") == [3, 4, 5, 6])
        #expect(try tokenizer(byteFallback: true).encode("éé") == [3, 5, 6, 5, 6])
        #expect(try tokenizer(byteFallback: true).encode("ü") == [3, 2])
        #expect(try tokenizer(byteFallback: false).encode("aéé") == [3, 4, 2])
    }

    @Test func refusesComponentsItDoesNotImplement() throws {
        func expectUnsupported(_ data: Data, _ fragment: String) {
            #expect {
                _ = try T5Tokenizer(data: data, name: "bad.json")
            } throws: { error in
                guard case TokenizerError.unsupported(let file, let reason) = error else { return false }
                return file == "bad.json" && reason.contains(fragment)
            }
        }
        let metaspace: [String: Any] = ["type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true]
        expectUnsupported(try Self.rewritten(normalizer: ["type": "BertNormalizer"], preTokenizer: metaspace), "BertNormalizer")
        expectUnsupported(try Self.rewritten(normalizer: NSNull(), preTokenizer: ["type": "ByteLevel"]), "ByteLevel")
        var first = metaspace
        first["prepend_scheme"] = "first"
        expectUnsupported(try Self.rewritten(normalizer: NSNull(), preTokenizer: first), "first")
        var json = try #require(try JSONSerialization.jsonObject(with: Self.fixtureData()) as? [String: Any])
        json["model"] = ["type": "BPE", "vocab": [:], "merges": []]
        expectUnsupported(try JSONSerialization.data(withJSONObject: json), "BPE")
        #expect(throws: TokenizerError.self) { _ = try T5Tokenizer(data: Data("{\"model\": 3}".utf8)) }
    }

    /// darts-clone common-prefix search on the fixture's charsmap: NFKC folds of single characters
    /// and a two-scalar key (e + combining acute -> é).
    @Test func precompiledCharsMapAppliesNFKCRules() throws {
        let encoded = try #require(try Self.precompiled()["precompiled_charsmap"] as? String)
        let map = try PrecompiledCharsMap(Array(try #require(Data(base64Encoded: encoded))), file: "t5_tokenizer.json")
        #expect(map.normalize("ＡＢＣ ﬁ ①") == "ABC fi 1")
        #expect(map.normalize("cafe\u{301}") == "caf\u{e9}")
        #expect(map.normalize("plain ascii") == "plain ascii")
        #expect(map.transform("x".utf8) == nil)
    }
}
