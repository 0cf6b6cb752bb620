import Tensor

/// One T5 encoder block (transformers `T5Block` without cross-attention): pre-norm residual
/// self-attention, then pre-norm residual feed-forward, each norm an RMS norm (`T5LayerNorm`).
///
/// Keys are relative to `encoder.block.N`: `layer.0.{layer_norm, SelfAttention}`,
/// `layer.1.{layer_norm, DenseReluDense}`.
struct T5Block: Sendable {
    let attentionNorm: T5LayerNorm  // layer.0.layer_norm
    let attention: T5Attention  // layer.0.SelfAttention
    let feedForwardNorm: T5LayerNorm  // layer.1.layer_norm
    let feedForward: T5FeedForward  // layer.1.DenseReluDense

    init(_ w: Weights, modelWidth: Int, heads: Int, headWidth: Int, feedForwardWidth: Int?, epsilon: Float) throws {
        attentionNorm = try T5LayerNorm(w["layer.0.layer_norm"], width: modelWidth, epsilon: epsilon)
        attention = try T5Attention(w["layer.0.SelfAttention"], modelWidth: modelWidth, heads: heads, headWidth: headWidth)
        feedForwardNorm = try T5LayerNorm(w["layer.1.layer_norm"], width: modelWidth, epsilon: epsilon)
        feedForward = try T5FeedForward(w["layer.1.DenseReluDense"], modelWidth: modelWidth, width: feedForwardWidth)
    }

    /// [B, L, D] -> [B, L, D]; `bias` [H, L, L] is the shared position bias plus mask.
    func callAsFunction(_ x: Tensor, bias: Tensor) -> Tensor {
        let h = attention(attentionNorm(x), bias: bias, adding: x)
        return feedForward(feedForwardNorm(h), adding: h)
    }
}
