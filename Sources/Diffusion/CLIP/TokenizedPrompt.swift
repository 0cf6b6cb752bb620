import Tensor

/// What fills a chunk's positions after its end-of-text token, per text-encoder family.
public enum CLIPPadding: Sendable, Equatable {
    /// Pad with `<|endoftext|>` (49407): SD1.x and SDXL's CLIP-L tower.
    case endOfText
    /// Pad with id 0 (`!`): SD2.x's OpenCLIP-H.
    case zero
    /// SDXL's OpenCLIP-bigG tower: the CLIP-L ids with every position after the chunk's first
    /// `<|endoftext|>` set to 0 (stable-diffusion.cpp fills `input_ids2` so).
    case zeroAfterEnd
}

/// A prompt as the text encoder sees it: rows of 77 ids `[BOS, up to 75 tokens, EOS, padding]`,
/// one weight per id, and where each row's first EOS is.
///
/// Matches stable-diffusion.cpp `FrozenCLIPEmbedderWithCustomWords::tokenize_with_weights` +
/// `pad_tokens` (engine-reference 5): fragments are tokenized one by one with their weight; a `BREAK`
/// pads the tokens so far with EOS ids (weight 1) to the next multiple of 75 (nothing at a chunk
/// boundary: A1111 would emit an all-padding chunk there); the token list is cut into 75-token
/// chunks, each framed by BOS and EOS; the last is padded to 77. An empty prompt gives one chunk.
/// BOS, EOS and padding have weight 1. There is no A1111 "comma backtrack" and no truncation.
public struct TokenizedPrompt: Sendable, Equatable {
    /// Ids per chunk, BOS and EOS included.
    public static let chunkLength = 77
    /// Prompt tokens per chunk.
    public static let tokensPerChunk = 75

    /// All chunks' ids, chunk after chunk (`chunkCount * 77`).
    public let ids: [Int]
    /// The weight of each id (1 for BOS, EOS and padding).
    public let weights: [Float]
    /// Index within its chunk of each chunk's first EOS (SDXL's pooled output is taken there).
    public let endPositions: [Int]

    /// Number of 77-id rows.
    public var chunkCount: Int { endPositions.count }
    /// The ids of chunk `index`.
    public func chunkIDs(_ index: Int) -> ArraySlice<Int> {
        ids[(index * Self.chunkLength)..<((index + 1) * Self.chunkLength)]
    }
    /// The weights of chunk `index`.
    public func chunkWeights(_ index: Int) -> ArraySlice<Float> {
        weights[(index * Self.chunkLength)..<((index + 1) * Self.chunkLength)]
    }
    /// The textual-inversion embeddings the prompt uses, in order of first use; their vectors are
    /// rows of `embeddingTable(_:width:)`, one after another.
    public private(set) var embeddings: [TextualInversion] = []
    /// Ids from here on stand for rows of `embeddingTable(_:width:)` (above every vocabulary).
    public static let embeddingIDBase = 1 << 30

    /// The vectors of `embeddings` for one text encoder, [rows, width], or nil when the prompt
    /// uses none. Every embedding must have a `tower` table `width` wide (the vocabulary that
    /// found them checked it).
    public func embeddingTable(_ tower: TextualInversion.Tower, width: Int) -> Tensor? {
        guard !embeddings.isEmpty else { return nil }
        let tables = embeddings.map { embedding -> Tensor in
            guard let table = embedding.table(tower, width: width) else {
                preconditionFailure("TokenizedPrompt: embedding '\(embedding.name)' has no \(width)-wide '\(tower.rawValue)' table")
            }
            return table
        }
        return Tensor.concat(tables, axis: 0)  // n x [vectors_i, D] -> [rows, D]
    }

    /// Whether any weight differs from 1 (otherwise weighting can be skipped).
    public var isWeighted: Bool { weights.contains { $0 != 1 } }

    /// Tokenizes a parsed prompt: each text fragment separately, with its weight (as A1111/sd.cpp).
    public init(_ prompt: ParsedPrompt, tokenizer: CLIPTokenizer, padding: CLIPPadding) {
        let (tokens, weights, _) = Self.collect(prompt, tokenizer: tokenizer) { _, _ in nil }
        self.init(
            tokens: tokens, weights: weights, padding: padding, startOfTextID: tokenizer.startOfTextID,
            endOfTextID: tokenizer.endOfTextID)
    }

    /// Tokenizes a parsed prompt, putting the vectors of the textual-inversion embeddings it names
    /// in place of their names (A1111 `tokenize_line`): an embedding's vectors get the weight of
    /// the text around them and never straddle two chunks (the chunk is padded with EOS first, as
    /// a `BREAK` pads it). They appear as ids `embeddingIDBase + row` of `embeddingTable`.
    /// - Throws: `EmbeddingLibrary.Failure` for a named embedding whose file cannot be read.
    public init(_ prompt: ParsedPrompt, tokenizer: CLIPTokenizer, padding: CLIPPadding, embeddings: EmbeddingVocabulary?) throws {
        guard let embeddings else {
            self.init(prompt, tokenizer: tokenizer, padding: padding)
            return
        }
        let (tokens, weights, used) = try Self.collect(prompt, tokenizer: tokenizer, match: embeddings.match)
        self.init(
            tokens: tokens, weights: weights, padding: padding, startOfTextID: tokenizer.startOfTextID,
            endOfTextID: tokenizer.endOfTextID)
        self.embeddings = used
    }

    /// The prompt's tokens and weights, fragment by fragment, with the embeddings `match` finds.
    private static func collect(
        _ prompt: ParsedPrompt, tokenizer: CLIPTokenizer,
        match: ([Int], Int) throws -> (embedding: TextualInversion, length: Int)?
    ) rethrows -> (tokens: [Int], weights: [Float], embeddings: [TextualInversion]) {
        var tokens: [Int] = []
        var tokenWeights: [Float] = []
        var used: [TextualInversion] = []
        var firstRow: [String: Int] = [:]  // embedding name -> its first row in the table
        func pad(to multiple: Int) {
            let fill = (multiple - tokens.count % multiple) % multiple
            tokens += Array(repeating: tokenizer.endOfTextID, count: fill)
            tokenWeights += Array(repeating: 1, count: fill)
        }
        for fragment in prompt.fragments {
            switch fragment {
            case .chunkBreak:
                pad(to: Self.tokensPerChunk)
            case .text(let text, let weight):
                let ids = tokenizer.encode(text)
                var position = 0
                while position < ids.count {
                    guard let (embedding, length) = try match(ids, position) else {
                        tokens.append(ids[position])
                        tokenWeights.append(Float(weight))
                        position += 1
                        continue
                    }
                    let count = embedding.vectorCount
                    if tokens.count % Self.tokensPerChunk + count > Self.tokensPerChunk { pad(to: Self.tokensPerChunk) }
                    let row: Int
                    if let first = firstRow[embedding.name] {
                        row = first
                    } else {
                        row = used.reduce(0) { $0 + $1.vectorCount }
                        firstRow[embedding.name] = row
                        used.append(embedding)
                    }
                    tokens += (0..<count).map { Self.embeddingIDBase + row + $0 }
                    tokenWeights += Array(repeating: Float(weight), count: count)
                    position += length
                }
            }
        }
        return (tokens, tokenWeights, used)
    }

    /// Parses (A1111 syntax) and tokenizes `prompt`.
    /// - Throws: `TokenizerError.invalidWeight` (see `PromptParser.parse`).
    public init(_ prompt: String, tokenizer: CLIPTokenizer, padding: CLIPPadding) throws {
        self.init(try PromptParser.parse(prompt), tokenizer: tokenizer, padding: padding)
    }

    /// Frames `tokens` (no BOS/EOS) into chunks of 77.
    public init(
        tokens: [Int], weights tokenWeights: [Float]? = nil, padding: CLIPPadding, startOfTextID: Int = 49406,
        endOfTextID: Int = 49407
    ) {
        let tokenWeights = tokenWeights ?? Array(repeating: 1, count: tokens.count)
        precondition(tokenWeights.count == tokens.count, "TokenizedPrompt: \(tokens.count) tokens, \(tokenWeights.count) weights")
        let chunkCount = max(1, (tokens.count + Self.tokensPerChunk - 1) / Self.tokensPerChunk)
        let padID = padding == .zero ? 0 : endOfTextID
        var ids: [Int] = []
        var weights: [Float] = []
        var endPositions: [Int] = []
        ids.reserveCapacity(chunkCount * Self.chunkLength)
        weights.reserveCapacity(chunkCount * Self.chunkLength)
        for chunk in 0..<chunkCount {
            let start = min(chunk * Self.tokensPerChunk, tokens.count)
            let end = min(start + Self.tokensPerChunk, tokens.count)
            var row = [startOfTextID] + tokens[start..<end] + [endOfTextID]
            var rowWeights = [Float(1)] + tokenWeights[start..<end] + [1]
            rowWeights += Array(repeating: 1, count: Self.chunkLength - row.count)
            row += Array(repeating: padID, count: Self.chunkLength - row.count)
            // A prompt's own `<|endoftext|>` (or BREAK padding) can come before the closing EOS.
            let firstEnd = row.firstIndex(of: endOfTextID) ?? (end - start + 1)
            if padding == .zeroAfterEnd {
                for p in (firstEnd + 1)..<Self.chunkLength { row[p] = 0 }
            }
            ids += row
            weights += rowWeights
            endPositions.append(firstEnd)
        }
        self.ids = ids
        self.weights = weights
        self.endPositions = endPositions
    }
}
