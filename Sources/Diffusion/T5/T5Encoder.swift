import Tensor

/// The T5 text encoder of SD3 (`text_encoder_3/`) and FLUX (`text_encoder_2/`): transformers
/// `T5EncoderModel`, T5 v1.1 flavour (T5-XXL in both pipelines).
///
/// Matches transformers 5.25 `T5EncoderModel` (eager attention) and stable-diffusion.cpp `T5Runner`:
/// token embedding (`shared`), N blocks of [RMS norm → self-attention with the relative position
/// bias of block 0, shared by all blocks, no q·k scaling → residual; RMS norm → gated-GELU
/// (tanh) feed-forward → residual], final RMS norm; `last_hidden_state` is the output.
///
/// Built from the model's root scope in transformers' names (diffusers `text_encoder_3/` files,
/// ComfyUI / stable-diffusion.cpp `t5xxl_fp16.safetensors`; llama.cpp-style GGUF names map onto
/// them through `T5Encoder.transformersName(_:)`):
/// ```
/// shared.weight [vocab, D]                  (or encoder.embed_tokens.weight, its alias; both may be present)
/// encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight [buckets, H]
/// encoder.block.N.layer.0.{layer_norm.weight [D], SelfAttention.{q,k,v}.weight [H·d_kv, D], SelfAttention.o.weight [D, H·d_kv]}
/// encoder.block.N.layer.1.{layer_norm.weight [D], DenseReluDense.{wi_0,wi_1}.weight [F, D], DenseReluDense.wo.weight [D, F]}
/// encoder.final_layer_norm.weight [D]
/// ```
/// Loading is strict: a missing or mis-shaped tensor throws naming file and tensor, and
/// `WeightIndex.checkAllConsumed(under:)` afterwards reports any tensor left over. Heads come from
/// the relative-bias table ([buckets, heads]) or are checked against it when given; d_kv is the
/// q rows / heads.
///
/// Memory and cost: the matrices stay encoded in their memory-mapped file (`Linear` /
/// `WeightMatrix` decode tiles as they multiply) and only the embedding rows of the prompt are
/// decoded, so T5-XXL in fp16 maps 9.5 GB of file and holds only activations: for L = 512,
/// x [512, 4096] f32 is 8 MB, the feed-forward hidden [512, 10240] x 2 is 42 MB, the scores and
/// bias [64, 512, 512] are 67 MB each. One encode is about 2 · 4.6e9 · L ≈ 4.8 TFLOP at L = 512
/// (2.4 at 256) plus 0.1 TFLOP of attention, and reads the 9.5 GB once: tens of seconds on a
/// laptop-class CPU at 100-200 GFLOP/s, a few seconds on a many-core AVX-512 server.
public struct T5Encoder: Sendable {
    let embedding: StoredTensor  // shared.weight [vocab, D]
    let positionBias: T5RelativePositionBias  // encoder.block.0.layer.0.SelfAttention.relative_attention_bias
    let blocks: [T5Block]  // encoder.block.N
    let finalNorm: T5LayerNorm  // encoder.final_layer_norm

    /// The sizes read from the weights (and the config, when given).
    public let config: T5Config

    /// Builds the encoder from its root scope, sizes from the shapes.
    /// - Parameters:
    ///   - heads: attention heads; by default the width of the relative-bias table (64 for T5-XXL).
    ///   - maxDistance: `relative_attention_max_distance` (128 in every released T5).
    ///   - epsilon: `layer_norm_epsilon` (1e-6 in every released T5).
    /// - Throws: `WeightError.missingTensor`, `.shapeMismatch` or `.badShape` naming file and tensor.
    public init(_ w: Weights, heads: Int? = nil, maxDistance: Int = 128, epsilon: Float = 1e-6) throws {
        try self.init(w, expected: nil, heads: heads, maxDistance: maxDistance, epsilon: epsilon)
    }

    /// Builds the encoder from its root scope and a `config.json`; every size in the config must
    /// match the weights.
    /// - Throws: as `init(_:heads:maxDistance:epsilon:)`.
    public init(_ w: Weights, config: T5Config) throws {
        try self.init(w, expected: config, heads: config.heads, maxDistance: config.relativeAttentionMaxDistance, epsilon: config.epsilon)
    }

    private init(_ w: Weights, expected: T5Config?, heads: Int?, maxDistance: Int, epsilon: Float) throws {
        let source = w.index.source
        // transformers ties encoder.embed_tokens to shared; files hold one or both.
        let aliasName = "encoder.embed_tokens.weight"
        let embeddingName = w.contains("shared.weight") ? "shared.weight" : aliasName
        let expectedShape = expected.map { [$0.vocabularySize, $0.modelWidth] }
        embedding = try w.stored(embeddingName, shape: expectedShape)
        guard embedding.shape.count == 2 else {
            throw WeightError.badShape(
                file: source, tensor: w.key(embeddingName), shape: embedding.shape, reason: "a token embedding is [vocab, d_model]")
        }
        if embeddingName != aliasName && w.contains(aliasName) { _ = try w.stored(aliasName, shape: embedding.shape) }
        let modelWidth = embedding.shape[1]

        let encoder = w["encoder"]
        let blockScope = encoder["block"]
        var layerCount = 0
        while blockScope.contains(String(layerCount)) { layerCount += 1 }
        guard layerCount > 0 else { throw WeightError.missingTensor(file: source, tensor: blockScope.key("0.layer.0.layer_norm.weight")) }
        if let expected, expected.layerCount != layerCount {
            throw WeightError.missingTensor(file: source, tensor: blockScope.key("\(min(layerCount, expected.layerCount)).layer.0.layer_norm.weight"))
        }
        positionBias = try T5RelativePositionBias(
            blockScope[0]["layer.0.SelfAttention"], buckets: expected?.relativeAttentionBuckets, heads: heads, maxDistance: maxDistance)
        let heads = positionBias.heads
        let queryName = blockScope[0].key("layer.0.SelfAttention.q.weight")
        guard let queryShape = w.index.tensors[queryName]?.shape else { throw WeightError.missingTensor(file: source, tensor: queryName) }
        guard queryShape.count == 2, queryShape[0] % heads == 0, expected.map({ $0.headWidth * heads == queryShape[0] }) ?? true else {
            throw WeightError.badShape(
                file: source, tensor: queryName, shape: queryShape, reason: "rows are not \(heads) heads of d_kv \(expected?.headWidth ?? -1)")
        }
        let headWidth = queryShape[0] / heads
        blocks = try (0..<layerCount).map { i in
            try T5Block(
                blockScope[i], modelWidth: modelWidth, heads: heads, headWidth: headWidth,
                feedForwardWidth: expected?.feedForwardWidth, epsilon: epsilon)
        }
        finalNorm = try T5LayerNorm(encoder["final_layer_norm"], width: modelWidth, epsilon: epsilon)
        config = T5Config(
            modelWidth: modelWidth, headWidth: headWidth, heads: heads, feedForwardWidth: blocks[0].feedForward.width,
            layerCount: layerCount, vocabularySize: embedding.shape[0], relativeAttentionBuckets: positionBias.buckets,
            relativeAttentionMaxDistance: maxDistance, epsilon: epsilon)
    }

    /// Encodes one framed prompt: ids [L] -> last_hidden_state [1, L, D].
    /// - Parameter attendedLength: keys at positions >= this are masked out (transformers'
    ///   `attention_mask` 1 on `0 ..< attendedLength`). By default nothing is masked, which is what
    ///   diffusers' SD3 (`_get_t5_prompt_embeds`) and FLUX pipelines do: they pass no attention
    ///   mask, so the `<pad>` positions of the padded prompt are attended to and shape the output.
    public func callAsFunction(_ ids: [Int], attendedLength: Int? = nil) -> Tensor {
        self([ids], attendedLength: attendedLength)
    }

    /// Encodes equal-length prompts: [B][L] ids -> [B, L, D]; see `callAsFunction(_:attendedLength:)`
    /// (one `attendedLength` for all rows).
    public func callAsFunction(_ batch: [[Int]], attendedLength: Int? = nil) -> Tensor {
        precondition(!batch.isEmpty && !batch[0].isEmpty, "T5Encoder: no ids")
        let length = batch[0].count
        precondition(batch.allSatisfy { $0.count == length }, "T5Encoder: rows of different lengths")
        let attended = attendedLength ?? length
        precondition(attended >= 1 && attended <= length, "T5Encoder: attendedLength \(attended) outside 1...\(length)")
        for row in batch {
            for id in row { precondition(id >= 0 && id < config.vocabularySize, "T5Encoder: id \(id) outside the vocabulary of \(config.vocabularySize)") }
        }
        let bias = positionBias(length: length, attendedLength: attended)  // [H, L, L]
        var x = embedding.rows(at: batch.flatMap { $0 }).reshaped(batch.count, length, config.modelWidth)  // [B·L, D] -> [B, L, D]
        for block in blocks { x = block(x, bias: bias) }
        return finalNorm(x)
    }

    /// The transformers name of a tensor in a llama.cpp-style T5 GGUF (`enc.blk.N.attn_q.weight`,
    /// `token_embd.weight`, ...), as stable-diffusion.cpp's `t5_name_map` renames them; names
    /// without llama.cpp parts come back unchanged.
    public static func transformersName(_ name: String) -> String {
        var parts = name
        for (from, to) in llamaCppNames where parts.contains(from) {
            if let range = parts.range(of: from) { parts.replaceSubrange(range, with: to) }
        }
        return parts
    }

    /// stable-diffusion.cpp `name_conversion.cpp` `t5_name_map`, in its order.
    static let llamaCppNames: [(String, String)] = [
        ("enc.", "encoder."), ("blk.", "block."), ("output_norm.", "final_layer_norm."),
        ("attn_q.", "layer.0.SelfAttention.q."), ("attn_k.", "layer.0.SelfAttention.k."),
        ("attn_v.", "layer.0.SelfAttention.v."), ("attn_o.", "layer.0.SelfAttention.o."),
        ("attn_norm.", "layer.0.layer_norm."), ("ffn_norm.", "layer.1.layer_norm."),
        ("ffn_up.", "layer.1.DenseReluDense.wi_1."), ("ffn_down.", "layer.1.DenseReluDense.wo."),
        ("ffn_gate.", "layer.1.DenseReluDense.wi_0."), ("attn_rel_b.", "layer.0.SelfAttention.relative_attention_bias."),
        ("token_embd.", "shared."),
    ]
}
