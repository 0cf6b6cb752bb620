import Tensor

/// SD 1.x and 2.x conditioning (engine-reference 5): one CLIP tower, weighted and chunked, the
/// chosen layer's states after the final layer norm. SD 1.x pads with `<|endoftext|>` and uses the
/// last layer; SD 2.x's OpenCLIP-H pads with 0 and uses the penultimate.
public struct CLIPTextConditioner: TextConditioner {
    public let tokenizer: CLIPTokenizer
    public let encoder: CLIPTextEncoder
    public let padding: CLIPPadding
    /// The family's clip skip when a request gives none.
    public let defaultClipSkip: Int
    /// Layers the file left out of a deeper encoder that clip skip counts from (SD 2.x diffusers
    /// folders ship 23 of OpenCLIP-H's 24 layers; the last is never used).
    public let missingLayers: Int

    public init(tokenizer: CLIPTokenizer, encoder: CLIPTextEncoder, padding: CLIPPadding, defaultClipSkip: Int, missingLayers: Int = 0) {
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.padding = padding
        self.defaultClipSkip = defaultClipSkip
        self.missingLayers = missingLayers
    }

    public func condition(_ prompt: ParsedPrompt, _ request: ConditioningRequest) throws -> Conditioning {
        let width = encoder.width
        let tokens = try TokenizedPrompt.framings(prompt, tokenizer: tokenizer, paddings: [padding], request: request) {
            $0.table(.single, width: width) != nil
        }[0]
        try tokens.checkLength(request)
        let skip = request.clipSkip ?? defaultClipSkip
        let effectiveSkip = max(1, skip - missingLayers)
        guard effectiveSkip <= encoder.layerCount else {
            throw GenerationError.invalidOption(field: "clip_skip", reason: "the text encoder has \(encoder.layerCount) layers, got \(skip)")
        }
        let chunks = (0..<tokens.chunkCount).map { Array(tokens.chunkIDs($0)) }
        let hidden = try encoder.encode(
            chunks, skip: effectiveSkip, finalLayerNorm: true, pooled: false, embeddings: tokens.embeddingTable(.single, width: width)
        ).hidden  // [k, 77, D]
        return Conditioning(
            context: tokens.applyingWeights(to: hidden.reshaped(1, -1, hidden.shape[2])), embeddings: tokens.embeddings)  // [1, 77k, D]
    }
}
