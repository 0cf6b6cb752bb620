import Tensor

/// SDXL conditioning (engine-reference 5): CLIP-L and OpenCLIP-bigG, both at the chosen layer
/// without the final layer norm, concatenated along features; the added vector is bigG's pooled
/// projection of the first chunk and the six size embeddings (original, crop, target).
public struct SDXLTextConditioner: TextConditioner {
    public let tokenizer: CLIPTokenizer
    public let encoderL: CLIPTextEncoder
    public let encoderG: CLIPTextEncoder

    public init(tokenizer: CLIPTokenizer, encoderL: CLIPTextEncoder, encoderG: CLIPTextEncoder) {
        self.tokenizer = tokenizer
        self.encoderL = encoderL
        self.encoderG = encoderG
    }

    public func condition(_ prompt: ParsedPrompt, _ request: ConditioningRequest) throws -> Conditioning {
        // An embedding is used only with tables for both towers (an SD 1.x one stays text).
        let (widthL, widthG) = (encoderL.width, encoderG.width)
        let fits = { (e: TextualInversion) in e.table(.clipL, width: widthL) != nil && e.table(.clipG, width: widthG) != nil }
        let framed = try TokenizedPrompt.framings(prompt, tokenizer: tokenizer, paddings: [.endOfText, .zeroAfterEnd], request: request, fits: fits)
        let (tokensL, tokensG) = (framed[0], framed[1])
        try tokensL.checkLength(request)
        let skip = request.clipSkip ?? 2
        guard skip <= encoderL.layerCount && skip <= encoderG.layerCount else {
            throw GenerationError.invalidOption(field: "clip_skip", reason: "larger than the text encoders' layer counts")
        }
        let l = try encoderL.encode(
            (0..<tokensL.chunkCount).map { Array(tokensL.chunkIDs($0)) }, skip: skip, finalLayerNorm: false, pooled: false,
            embeddings: tokensL.embeddingTable(.clipL, width: widthL))
        let g = try encoderG.encode(
            (0..<tokensG.chunkCount).map { Array(tokensG.chunkIDs($0)) }, skip: skip, finalLayerNorm: false, pooled: true,
            embeddings: tokensG.embeddingTable(.clipG, width: widthG))
        let both = Tensor.concat([l.hidden, g.hidden], axis: 2)  // [k, 77, 768 + 1280]
        var context = tokensL.applyingWeights(to: both.reshaped(1, -1, both.shape[2]))  // [1, 77k, 2048]
        if request.role == .negativePrompt && request.text.isEmpty {
            // SGM zeroes the unconditional context of an empty negative prompt (sd.cpp keeps the
            // pooled vector, as here).
            context = Tensor.zeros(context.shape)
        }
        guard let pooled = g.pooled else { throw GenerationError.unsupported("SDXL second text encoder without a projection") }
        let first = pooled.narrowed(axis: 0, start: 0, length: 1)  // [1, 1280], chunk 0 only
        let (width, height) = (Float(request.width), Float(request.height))
        let sizes: [Float] = [height, width, 0, 0, height, width]  // original, crop, target
        let embedded = Tensor.timestepEmbedding(sizes, dimension: 256).reshaped(1, -1)  // [1, 6 * 256]
        return Conditioning(context: context, added: Tensor.concat([first, embedded], axis: 1), embeddings: tokensL.embeddings)
    }
}
