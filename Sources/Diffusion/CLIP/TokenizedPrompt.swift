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
    /// Whether any weight differs from 1 (otherwise weighting can be skipped).
    public var isWeighted: Bool { weights.contains { $0 != 1 } }

    /// Tokenizes a parsed prompt: each text fragment separately, with its weight (as A1111/sd.cpp).
    public init(_ prompt: ParsedPrompt, tokenizer: CLIPTokenizer, padding: CLIPPadding) {
        var tokens: [Int] = []
        var tokenWeights: [Float] = []
        for fragment in prompt.fragments {
            switch fragment {
            case .chunkBreak:
                let fill = (Self.tokensPerChunk - tokens.count % Self.tokensPerChunk) % Self.tokensPerChunk
                tokens += Array(repeating: tokenizer.endOfTextID, count: fill)
                tokenWeights += Array(repeating: 1, count: fill)
            case .text(let text, let weight):
                let ids = tokenizer.encode(text)
                tokens += ids
                tokenWeights += Array(repeating: Float(weight), count: ids.count)
            }
        }
        self.init(
            tokens: tokens, weights: tokenWeights, padding: padding, startOfTextID: tokenizer.startOfTextID,
            endOfTextID: tokenizer.endOfTextID)
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
