import Tensor

/// A prompt encoded for the denoising network: cross-attention context [1, L, D] and, where the
/// family has one, the added conditioning vector [1, A] (SDXL: pooled text embedding and size
/// embeddings).
public struct Conditioning: Sendable {
    public let context: Tensor
    public let added: Tensor?
    /// The textual-inversion embeddings the prompt used (for the picture's parameters).
    public var embeddings: [TextualInversion] = []

    public init(context: Tensor, added: Tensor? = nil, embeddings: [TextualInversion] = []) {
        self.context = context
        self.added = added
        self.embeddings = embeddings
    }
}

/// What a conditioner is asked to encode, besides the prompt itself.
public struct ConditioningRequest: Sendable {
    /// Which prompt field this is; errors name it.
    public enum Role: String, Sendable {
        case prompt
        case negativePrompt = "negative_prompt"
    }

    public var role: Role
    /// The prompt as written (before attention parsing): SDXL zeroes an empty negative prompt.
    public var text: String
    /// A1111 clip skip (1 = last layer); nil = the family's default.
    public var clipSkip: Int?
    /// Picture size in pixels (SDXL's size embeddings).
    public var width: Int
    public var height: Int
    /// The most 75-token chunks a prompt may take (longer prompts are refused, never truncated).
    public var maxChunks: Int
    /// Where the textual-inversion embeddings a prompt names are found; nil: names are text.
    public var embeddings: EmbeddingLibrary?

    public init(
        role: Role, text: String, clipSkip: Int?, width: Int, height: Int, maxChunks: Int, embeddings: EmbeddingLibrary? = nil
    ) {
        self.embeddings = embeddings
        self.role = role
        self.text = text
        self.clipSkip = clipSkip
        self.width = width
        self.height = height
        self.maxChunks = maxChunks
    }
}

/// A family's text side: prompt -> `Conditioning` (tokenizer, text encoders, the family's layer
/// and padding conventions).
public protocol TextConditioner: Sendable {
    /// - Throws: `GenerationError.invalidOption` naming the field (a prompt over `maxChunks`, a
    ///   clip skip deeper than the encoder).
    func condition(_ prompt: ParsedPrompt, _ request: ConditioningRequest) throws -> Conditioning
}

extension TokenizedPrompt {
    /// Tokenizes `prompt` for a conditioner in each of `paddings` (SDXL frames its two towers
    /// differently), with the request's embeddings that `fits` accepts; the embedding folder is
    /// listed once for all of them.
    /// - Throws: `GenerationError.invalidOption` naming the prompt's field for an embedding file
    ///   that cannot be read.
    static func framings(
        _ prompt: ParsedPrompt, tokenizer: CLIPTokenizer, paddings: [CLIPPadding], request: ConditioningRequest,
        fits: @escaping (TextualInversion) -> Bool
    ) throws -> [TokenizedPrompt] {
        let vocabulary = request.embeddings.map { EmbeddingVocabulary(library: $0, tokenizer: tokenizer, fits: fits) }
        do {
            return try paddings.map { try TokenizedPrompt(prompt, tokenizer: tokenizer, padding: $0, embeddings: vocabulary) }
        } catch let error as EmbeddingLibrary.Failure {
            throw GenerationError.invalidOption(field: request.role.rawValue, reason: error.description)
        }
    }

    /// Refuses a prompt longer than the request allows, naming its field.
    func checkLength(_ request: ConditioningRequest) throws {
        guard chunkCount <= request.maxChunks else {
            throw GenerationError.invalidOption(
                field: request.role.rawValue,
                reason: "takes \(chunkCount) chunks of \(Self.tokensPerChunk) tokens, more than the \(request.maxChunks) allowed")
        }
    }
}
