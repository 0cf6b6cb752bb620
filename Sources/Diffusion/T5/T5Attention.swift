import Tensor

/// Self-attention of a T5 encoder layer (transformers `T5Attention`, stable-diffusion.cpp
/// `T5Attention`): q, k, v and o projections without bias, the relative position bias (and any
/// padding mask) added to the logits, and — unlike most transformers — no 1/sqrt(d_kv) scaling of
/// q·k (T5 folds it into the initialization of q).
///
/// Keys are relative to `encoder.block.N.layer.0.SelfAttention`: `q`, `k`, `v` [H·d_kv, D],
/// `o` [D, H·d_kv].
struct T5Attention: Sendable {
    let query: Linear  // q
    let key: Linear  // k
    let value: Linear  // v
    let output: Linear  // o
    let heads: Int

    init(_ w: Weights, modelWidth: Int, heads: Int, headWidth: Int) throws {
        let inner = heads * headWidth
        query = try Linear(w["q"], inFeatures: modelWidth, outFeatures: inner)
        key = try Linear(w["k"], inFeatures: modelWidth, outFeatures: inner)
        value = try Linear(w["v"], inFeatures: modelWidth, outFeatures: inner)
        output = try Linear(w["o"], inFeatures: inner, outFeatures: modelWidth)
        guard query.bias == nil, key.bias == nil, value.bias == nil, output.bias == nil else {
            throw WeightError.badShape(
                file: w.index.source, tensor: w.key("q.bias"), shape: query.bias?.shape ?? [],
                reason: "T5 attention projections have no bias")
        }
        self.heads = heads
    }

    /// residual + attention(x): x [B, L, D], bias [H, L, L] (position bias plus mask) -> [B, L, D].
    func callAsFunction(_ x: Tensor, bias: Tensor, adding residual: consuming Tensor) -> Tensor {
        let (batch, length) = (x.shape[0], x.shape[1])
        let headWidth = query.outFeatures / heads
        // [B, L, H·d] -> [B, L, H, d] -> [B, H, L, d]
        func splitHeads(_ t: Tensor) -> Tensor { t.reshaped(batch, length, heads, headWidth).permuted(0, 2, 1, 3) }
        var scores = matmul(splitHeads(query(x)), splitHeads(key(x)), transposeB: true)  // [B, H, L, L]
        scores += bias  // broadcast over B; no 1/sqrt(d) in T5
        scores.formSoftmax()
        let attended = matmul(scores, splitHeads(value(x)))  // [B, H, L, d]
            .permuted(0, 2, 1, 3).reshaped(batch, length, heads * headWidth)  // -> [B, L, H, d] -> [B, L, H·d]
        return output(attended, adding: residual)
    }
}
