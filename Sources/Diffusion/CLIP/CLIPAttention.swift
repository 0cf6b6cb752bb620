import Foundation
import Tensor

/// Causal multi-head self-attention of a CLIP text layer (HF `CLIPAttention` with the causal mask
/// `CLIPTextTransformer` builds; OpenCLIP `nn.MultiheadAttention` with `attn_mask`).
///
/// Keys are relative to `text_model.encoder.layers.L.self_attn`: either HF's separate
/// `q_proj`, `k_proj`, `v_proj`, or OpenCLIP's fused `in_proj.{weight,bias}` ([3D, D], rows q; k; v),
/// which is kept fused and run as one GEMM.
struct CLIPAttention: Sendable {
    enum Projections: Sendable {
        case separate(query: Linear, key: Linear, value: Linear)  // q_proj, k_proj, v_proj
        case fused(Linear)  // in_proj: [3D, D]
    }

    let projections: Projections
    let output: Linear  // out_proj
    let heads: Int

    init(_ w: Weights, width: Int, heads: Int) throws {
        if w.contains("in_proj") {
            projections = .fused(try Linear(w["in_proj"], inFeatures: width, outFeatures: 3 * width))
        } else {
            projections = .separate(
                query: try Linear(w["q_proj"], inFeatures: width, outFeatures: width),
                key: try Linear(w["k_proj"], inFeatures: width, outFeatures: width),
                value: try Linear(w["v_proj"], inFeatures: width, outFeatures: width))
        }
        output = try Linear(w["out_proj"], inFeatures: width, outFeatures: width)
        self.heads = heads
    }

    /// [B, L, D] -> [B, L, D]; `mask` is the additive [L, L] causal mask.
    func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor {
        let (batch, length, width) = (x.shape[0], x.shape[1], x.shape[2])
        let headWidth = width / heads
        let q: Tensor, k: Tensor, v: Tensor
        switch projections {
        case .separate(let query, let key, let value):
            (q, k, v) = (query(x), key(x), value(x))
        case .fused(let inProjection):
            let qkv = inProjection(x).chunked(3, axis: 2)  // [B, L, 3D] -> 3 x [B, L, D]
            (q, k, v) = (qkv[0], qkv[1], qkv[2])
        }
        // [B, L, D] -> [B, L, H, d] -> [B, H, L, d]
        func splitHeads(_ t: Tensor) -> Tensor { t.reshaped(batch, length, heads, headWidth).permuted(0, 2, 1, 3) }
        // HF order: scores = (q kᵀ) · d^-1/2 + mask, fp32 softmax, then · v.
        var scores = matmul(splitHeads(q), splitHeads(k), transposeB: true)  // [B, H, L, L]
        scores = scores.scaled(by: 1 / Float(headWidth).squareRoot()) + mask
        let attended = matmul(scores.softmax(), splitHeads(v))  // [B, H, L, d]
            .permuted(0, 2, 1, 3).reshaped(batch, length, width)  // [B, H, L, d] -> [B, L, H, d] -> [B, L, D]
        return output(attended)
    }

    /// The additive causal mask: 0 on and below the diagonal, -inf above (token i sees 0 ... i).
    static func causalMask(length: Int) -> Tensor {
        var values = [Float](repeating: 0, count: length * length)
        for i in 0..<length {
            for j in (i + 1)..<length { values[i * length + j] = -.infinity }
        }
        return Tensor(shape: [length, length], values: values)
    }
}
