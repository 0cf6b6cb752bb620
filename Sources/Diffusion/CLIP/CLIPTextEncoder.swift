import Tensor

/// The CLIP text encoder of every SD family: CLIP ViT-L/14 (SD 1.x, SDXL's first tower), OpenCLIP
/// ViT-H/14 (SD 2.x) and OpenCLIP ViT-bigG/14 with its text projection (SDXL's second tower).
///
/// Matches transformers `CLIPTextModel` / `CLIPTextModelWithProjection` (5.24) and
/// stable-diffusion.cpp `CLIPTextModel`: token + position embeddings, pre-LN layers with a causal
/// mask (no padding mask), a final LayerNorm, and the pooled output at the first end-of-text token.
///
/// Built from the encoder's root scope in canonical names, e.g. `index.weights("cond_stage_model.transformer")`
/// or `index.weights("cond_stage_model.1.transformer")`:
/// ```
/// text_model.embeddings.{token_embedding.weight [vocab, D], position_embedding.weight [77, D]}
/// text_model.encoder.layers.L.{layer_norm1, self_attn.{q_proj,k_proj,v_proj | in_proj}, self_attn.out_proj,
///                              layer_norm2, mlp.fc1, mlp.fc2}
/// text_model.final_layer_norm
/// text_projection.weight [P, D] (HF)  or  text_projection [D, P] (OpenCLIP)   -- optional
/// ```
/// Width, layer count, vocabulary, context length and projection size come from the shapes; the
/// layer count is whatever is present (SD 2.x diffusers files ship 23 of OpenCLIP-H's 24 layers).
/// `text_model.embeddings.position_ids` and `logit_scale` may be present and are not read: pass
/// `CLIPTextEncoder.ignoredTensors` to `WeightIndex.checkAllConsumed(under:ignoring:)`.
///
/// How each family uses it (reference section 5, A1111 / sd.cpp `clip_skip` convention):
/// - SD 1.x: `encoder(ids, skip: 1, finalLayerNorm: true, pooled: false)` (A1111 "clip skip 2": skip 2);
/// - SD 2.x: `skip: 2, finalLayerNorm: true` (with a 23-layer file, subtract the missing layer: skip 1);
/// - SDXL: both towers `skip: 2, finalLayerNorm: false`; the pooled vector comes from bigG's output.
public struct CLIPTextEncoder: Sendable {
    /// Tensors under an encoder's root that exist in real checkpoints and are deliberately unused.
    public static let ignoredTensors = ["text_model.embeddings.position_ids", "logit_scale"]

    let embeddings: CLIPTextEmbeddings  // text_model.embeddings
    let layers: [CLIPEncoderLayer]  // text_model.encoder.layers.L
    let finalNorm: LayerNorm  // text_model.final_layer_norm (OpenCLIP ln_final)
    let projection: CLIPTextProjection?  // text_projection.weight or text_projection

    /// Attention heads per layer.
    public let heads: Int
    /// The MLP activation.
    public let activation: CLIPActivation
    /// The token whose first occurrence in a chunk gives the pooled output (`<|endoftext|>`).
    public let endOfTextID: Int

    /// Builds the encoder from its root scope.
    /// - Parameters:
    ///   - heads: attention heads; by default width / 64, the head width of every released CLIP
    ///     text encoder (768 -> 12, 1024 -> 16, 1280 -> 20). Tiny models must pass it.
    ///   - activation: by default `CLIPActivation.familyDefault(width:fusedAttention:)`.
    ///   - endOfTextID: the EOS id of the tokenizer (49407 for CLIP's BPE vocabulary).
    /// - Throws: `WeightError.missingTensor`, `.shapeMismatch` or `.badShape` for a checkpoint
    ///   that is not a CLIP text encoder of consistent sizes.
    public init(_ w: Weights, heads: Int? = nil, activation: CLIPActivation? = nil, endOfTextID: Int = 49407) throws {
        let model = w["text_model"]
        embeddings = try CLIPTextEmbeddings(model["embeddings"])
        let width = embeddings.width
        let heads = heads ?? max(1, width / 64)
        guard width % heads == 0 else {
            throw WeightError.badShape(
                file: w.index.source, tensor: model.key("embeddings.token_embedding.weight"),
                shape: embeddings.tokenEmbedding.shape, reason: "width \(width) is not divisible into \(heads) heads")
        }
        let layerScope = model["encoder.layers"]
        var layerCount = 0
        while layerScope.contains(String(layerCount)) { layerCount += 1 }
        guard layerCount > 0 else {
            throw WeightError.missingTensor(file: w.index.source, tensor: layerScope.key("0.layer_norm1.weight"))
        }
        let activation =
            activation ?? .familyDefault(width: width, fusedAttention: layerScope[0]["self_attn"].contains("in_proj"))
        layers = try (0..<layerCount).map { try CLIPEncoderLayer(layerScope[$0], width: width, heads: heads, activation: activation) }
        finalNorm = try LayerNorm(model["final_layer_norm"], epsilon: 1e-5)
        projection = try CLIPTextProjection(w, width: width)
        self.heads = heads
        self.activation = activation
        self.endOfTextID = endOfTextID
    }

    /// Hidden width D.
    public var width: Int { embeddings.width }
    /// Transformer layers present in the checkpoint.
    public var layerCount: Int { layers.count }
    /// Tokens per chunk (77).
    public var contextLength: Int { embeddings.contextLength }
    /// Token ids accepted: 0 ..< vocabularySize.
    public var vocabularySize: Int { embeddings.vocabularySize }
    /// Width of the pooled output: the projection's output, or D without a projection.
    public var pooledWidth: Int { projection?.outFeatures ?? width }
    /// Whether the checkpoint has a text projection (SDXL's bigG tower).
    public var hasProjection: Bool { projection != nil }

    /// Encodes chunks of token ids.
    /// - Parameters:
    ///   - ids: `contextLength` ids per chunk, chunks one after another; each chunk is encoded on
    ///     its own with positions 0 ..< contextLength.
    ///   - skip: clip_skip in the A1111 / sd.cpp convention: the hidden state after the first
    ///     `layerCount - skip + 1` layers (1 = last layer, 2 = penultimate); in 1 ... layerCount.
    ///     (diffusers' `clip_skip` is this minus one.)
    ///   - finalLayerNorm: whether `final_layer_norm` is applied to that hidden state.
    ///   - pooled: whether to compute the pooled output, which always comes from the last layer
    ///     after the final LayerNorm, at each chunk's first `endOfTextID` (the highest id when it is
    ///     absent, transformers' legacy rule), times the text projection when there is one.
    ///     It runs the layers that `skip` leaves out.
    ///   - embeddings: textual-inversion vectors [rows, D] for the ids from
    ///     `TokenizedPrompt.embeddingIDBase` on (`TokenizedPrompt.embeddingTable`).
    /// - Returns: `hidden` [chunks, contextLength, D] and `pooled` [chunks, pooledWidth] (nil when
    ///   not asked for).
    public func callAsFunction(
        _ ids: [Int], skip: Int = 1, finalLayerNorm: Bool, pooled wantsPooled: Bool = true, embeddings custom: Tensor? = nil
    ) -> (hidden: Tensor, pooled: Tensor?) {
        precondition(
            !ids.isEmpty && ids.count % contextLength == 0,
            "CLIPTextEncoder: \(ids.count) ids are not whole chunks of \(contextLength)")
        precondition(skip >= 1 && skip <= layers.count, "CLIPTextEncoder: skip \(skip) outside 1...\(layers.count)")
        let chunks = ids.count / contextLength
        let mask = CLIPAttention.causalMask(length: contextLength)
        let kept = layers.count - skip + 1
        var x = embeddings(ids, custom: custom)  // [chunks, L, D]
        for layer in layers[..<kept] { x = layer(x, mask: mask) }
        let hidden = finalLayerNorm ? finalNorm(x) : x
        guard wantsPooled else { return (hidden, nil) }

        for layer in layers[kept...] { x = layer(x, mask: mask) }
        let last = finalNorm(x).reshaped(chunks * contextLength, width)  // [chunks, L, D] -> [chunks·L, D]
        let rows = (0..<chunks).map { c in c * contextLength + poolingPosition(ids[c * contextLength..<(c + 1) * contextLength]) }
        let pooled = last.rows(at: rows)  // [chunks, D]
        return (hidden, projection.map { $0(pooled) } ?? pooled)
    }

    /// Encodes `[chunks][contextLength]` ids; see `callAsFunction(_:skip:finalLayerNorm:pooled:)`.
    public func callAsFunction(
        _ chunks: [[Int]], skip: Int = 1, finalLayerNorm: Bool, pooled wantsPooled: Bool = true, embeddings custom: Tensor? = nil
    ) -> (hidden: Tensor, pooled: Tensor?) {
        self(chunks.flatMap { $0 }, skip: skip, finalLayerNorm: finalLayerNorm, pooled: wantsPooled, embeddings: custom)
    }

    /// Position of the chunk's first end-of-text token. Without one, the first maximum id, which is
    /// transformers' rule for configs with the legacy `eos_token_id` 2 (and the first EOS whenever
    /// EOS is the highest id, as in CLIP's vocabulary).
    func poolingPosition(_ chunk: ArraySlice<Int>) -> Int {
        if let eos = chunk.firstIndex(of: endOfTextID) { return eos - chunk.startIndex }
        var best = chunk.startIndex
        for i in chunk.indices where chunk[i] > chunk[best] { best = i }
        return best - chunk.startIndex
    }
}
