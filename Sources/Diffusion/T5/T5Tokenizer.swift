import Foundation

/// The T5 tokenizer of SD3 (`tokenizer_3/`) and FLUX (`tokenizer_2/`): SentencePiece Unigram run
/// from a Hugging Face `tokenizer.json` as transformers' `T5TokenizerFast` runs it.
///
/// Pipeline, in tokenizers' order: added tokens (`<pad>`, `</s>`, `<unk>`, `<extra_id_N>`) split
/// out of the raw text (`AddedTokenSplitter`); each remainder normalized (`T5Normalizer`: for T5
/// the `Precompiled` nmt_nfkc charsmap, possibly followed by whitespace `Strip`/`Replace`),
/// pre-tokenized (`T5PreTokenizer`: `WhitespaceSplit` and/or `Metaspace` "▁" with prepend
/// "always") and segmented by the `UnigramModel`. The post-processor's single-sequence template
/// (`$A </s>` for T5) frames a prompt in `frame(_:length:)`. Files asking for anything else are
/// refused with `TokenizerError.unsupported` rather than approximated; `truncation`, `padding` and
/// `decoder` in the file are not read (transformers sets truncation and padding per call, and
/// decoding is not needed to condition a model).
///
/// Checked against transformers 5.25 `T5TokenizerFast` on hard prompts (`T5TokenizerTests`).
/// Immutable after loading, so thread-safe.
public final class T5Tokenizer: Sendable {
    /// A prompt framed for the encoder as diffusers' SD3 / FLUX pipelines frame it:
    /// `tokenizer(prompt, padding="max_length", max_length=length, truncation=True)`.
    public struct Frame: Sendable, Equatable {
        /// `length` ids: the prompt's ids (truncated if needed), the template's `</s>`, then `<pad>`.
        public let ids: [Int]
        /// Positions that are not padding (prompt ids and `</s>`): transformers' attention mask is
        /// 1 on `0 ..< tokenCount`. (diffusers' SD3 / FLUX do not pass that mask to T5.)
        public let tokenCount: Int
        /// Prompt ids that did not fit and were dropped (diffusers logs the text they decode to).
        public let truncatedIDs: [Int]

        /// Whether the prompt was cut to fit.
        public var isTruncated: Bool { !truncatedIDs.isEmpty }
    }

    /// `<pad>`'s id (0 in T5): what frames are padded with.
    public let padID: Int
    /// `</s>`'s id (1 in T5), when the vocabulary has it.
    public let endOfSequenceID: Int?
    /// `<unk>`'s id (2 in T5).
    public var unknownID: Int { model.unknownID }
    /// Ids in the model's vocabulary (`len(tokenizer)` when added tokens are all in it, as in T5).
    public var vocabularySize: Int { model.vocabularySize }
    /// Ids the post-processor puts before / after a single sequence (none / `[</s>]` for T5).
    public let templatePrefix: [Int]
    public let templateSuffix: [Int]

    private let addedTokens: AddedTokenSplitter
    private let normalizedAddedTokens: AddedTokenSplitter
    private let normalizer: T5Normalizer
    private let preTokenizer: T5PreTokenizer
    private let model: UnigramModel

    /// Loads a `tokenizer.json` (a diffusers `tokenizer_2/` or `tokenizer_3/` folder's).
    /// - Throws: `TokenizerError.cannotRead`, `.malformed` or `.unsupported`.
    public convenience init(tokenizerJSON url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw TokenizerError.cannotRead(file: url.path, reason: "\(error.localizedDescription)")
        }
        try self.init(data: data, name: url.path)
    }

    /// Builds the tokenizer from the contents of a `tokenizer.json`.
    /// - Parameter name: the file's name in error messages.
    /// - Throws: `TokenizerError.malformed` naming what is wrong, `.unsupported` naming the
    ///   component type or option that is not implemented.
    public init(data: Data, name: String = "tokenizer.json") throws {
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data) } catch {
            throw TokenizerError.malformed(file: name, reason: "not JSON: \(error.localizedDescription)")
        }
        let root = try TokenizerJSONObject(json, path: "tokenizer", file: name)
        let modelObject = try root.object("model")
        guard try modelObject.type() == "Unigram" else {
            throw modelObject.unsupported("model type '\(try modelObject.type())' (implemented: Unigram)")
        }
        model = try UnigramModel(json: modelObject)
        normalizer = try T5Normalizer(json: root.members["normalizer"], path: "tokenizer.normalizer", file: name)
        preTokenizer = try T5PreTokenizer(json: root.members["pre_tokenizer"], path: "tokenizer.pre_tokenizer", file: name)

        var raw: [AddedTokenSplitter.Token] = [], normalized: [AddedTokenSplitter.Token] = []
        var addedIDs: [String: Int] = [:]
        if !root.isNull("added_tokens") {
            for entry in try root.objects("added_tokens") {
                let content = try entry.string("content"), id = try entry.int("id")
                guard id >= 0 else { throw entry.malformed("negative id") }
                if try entry.bool("single_word", default: false) { throw entry.unsupported("single_word added token '\(content)'") }
                let token = AddedTokenSplitter.Token(
                    content: Array(content.unicodeScalars), id: id, leftStrip: try entry.bool("lstrip", default: false),
                    rightStrip: try entry.bool("rstrip", default: false))
                if try entry.bool("normalized", default: true) { normalized.append(token) } else { raw.append(token) }
                addedIDs[content] = id
            }
        }
        addedTokens = AddedTokenSplitter(raw)
        normalizedAddedTokens = AddedTokenSplitter(normalized)

        guard let pad = addedIDs["<pad>"] ?? model.id(of: "<pad>") else {
            throw TokenizerError.malformed(file: name, reason: "no <pad> token")
        }
        padID = pad
        endOfSequenceID = addedIDs["</s>"] ?? model.id(of: "</s>")
        (templatePrefix, templateSuffix) = try Self.singleTemplate(root.members["post_processor"], file: name)
    }

    /// Token ids of `text`, without the template's `</s>` (`add_special_tokens=False`).
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in addedTokens.split(text) {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let part):
                for inner in normalizedAddedTokens.split(normalizer(part)) {
                    switch inner {
                    case .token(let id): ids.append(id)
                    case .text(let normalizedPart):
                        for piece in preTokenizer(normalizedPart) { model.encode(piece, into: &ids) }
                    }
                }
            }
        }
        return ids
    }

    /// `text` framed to exactly `length` ids: its ids cut to `length` minus the template's tokens,
    /// the template (`... </s>`), then `<pad>` up to `length` (right padding and right truncation,
    /// transformers' defaults). What was cut is reported in `Frame.truncatedIDs`, not hidden.
    public func frame(_ text: String, length: Int) -> Frame { frame(ids: encode(text), length: length) }

    /// Frames ids from `encode(_:)`; see `frame(_:length:)`.
    public func frame(ids: [Int], length: Int) -> Frame {
        let special = templatePrefix.count + templateSuffix.count
        precondition(length >= special, "T5Tokenizer.frame: length \(length) leaves no room for \(special) template tokens")
        let kept = min(ids.count, length - special)
        let framed = templatePrefix + ids[..<kept] + templateSuffix
        return Frame(
            ids: framed + Array(repeating: padID, count: length - framed.count), tokenCount: framed.count,
            truncatedIDs: Array(ids[kept...]))
    }

    /// The ids a `TemplateProcessing` post-processor puts around a single sequence `$A`; none for
    /// a null post-processor. Other post-processor types are refused.
    static func singleTemplate(_ value: Any?, file: String) throws -> (prefix: [Int], suffix: [Int]) {
        if value == nil || value is NSNull { return ([], []) }
        let object = try TokenizerJSONObject(value, path: "tokenizer.post_processor", file: file)
        guard try object.type() == "TemplateProcessing" else {
            throw object.unsupported("post-processor type '\(try object.type())' (implemented: TemplateProcessing)")
        }
        let specials = try object.object("special_tokens")
        var prefix: [Int] = [], suffix: [Int] = [], seenSequence = false
        for item in try object.objects("single") {
            if !item.isNull("Sequence") {
                guard !seenSequence else { throw item.unsupported("a single template with two sequences") }
                seenSequence = true
            } else if !item.isNull("SpecialToken") {
                let name = try item.object("SpecialToken").string("id")
                let ids = try specials.object(name).array("ids").map { value -> Int in
                    guard let number = value as? NSNumber, let id = Int(exactly: number.doubleValue), id >= 0 else {
                        throw specials.malformed("ids of '\(name)' are not non-negative integers")
                    }
                    return id
                }
                if seenSequence { suffix += ids } else { prefix += ids }
            } else {
                throw item.malformed("neither Sequence nor SpecialToken")
            }
        }
        guard seenSequence else { throw object.malformed("single template without $A") }
        return (prefix, suffix)
    }
}
