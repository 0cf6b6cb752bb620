import Foundation
import Tensor

/// T5's learned relative position bias: one scalar per head for each bucket of (key − query)
/// distance, added to the attention logits of every layer (only block 0 stores the table, all
/// layers reuse it).
///
/// Matches transformers `T5Attention._relative_position_bucket` (bidirectional) and
/// `compute_bias`; stable-diffusion.cpp `T5Attention` / `T5Stack`. Keys are relative to
/// `encoder.block.0.layer.0.SelfAttention`: `relative_attention_bias.weight` [buckets, heads].
struct T5RelativePositionBias: Sendable {
    let table: Tensor  // relative_attention_bias.weight [buckets, heads]
    let maxDistance: Int

    init(_ w: Weights, buckets: Int?, heads: Int?, maxDistance: Int) throws {
        let table = try w.tensor("relative_attention_bias.weight")
        guard table.rank == 2, buckets.map({ $0 == table.shape[0] }) ?? true, heads.map({ $0 == table.shape[1] }) ?? true,
            table.shape[0] >= 4
        else {
            throw WeightError.shapeMismatch(
                file: w.index.source, tensor: w.key("relative_attention_bias.weight"),
                expected: [buckets ?? -1, heads ?? -1], actual: table.shape)
        }
        self.table = table
        self.maxDistance = maxDistance
    }

    var buckets: Int { table.shape[0] }
    var heads: Int { table.shape[1] }

    /// The bucket of `relativePosition` = key position − query position, bidirectional: half the
    /// buckets for keys after the query; within a half, distances below a quarter of the buckets
    /// exactly, larger ones logarithmically up to `maxDistance` (then the last bucket).
    ///
    /// Computed in Float as transformers does on f32 tensors (log of distance / maxExact, divided
    /// by log(maxDistance / maxExact), times the log-spaced bucket count, truncated), so bucket
    /// boundaries such as distance 16 → 10 land on the same side.
    static func bucket(_ relativePosition: Int, buckets: Int, maxDistance: Int) -> Int {
        let half = buckets / 2
        let base = relativePosition > 0 ? half : 0
        let distance = abs(relativePosition)
        let maxExact = half / 2
        if distance < maxExact { return base + distance }
        let scale = Float(log(Double(maxDistance) / Double(maxExact)))
        let logarithmic = log(Float(distance) / Float(maxExact)) / scale * Float(half - maxExact)
        return base + min(maxExact + Int(logarithmic), half - 1)
    }

    /// The bias added to attention logits: [heads, queries, keys], with `-Float.greatestFiniteMagnitude`
    /// on keys at or after `attendedLength` (transformers adds `(1 - mask) · finfo.min` to the bias).
    func callAsFunction(length: Int, attendedLength: Int) -> Tensor {
        let values = table.scalars
        // Bucket of each distance j - i in -(L-1) ... L-1.
        let bucketOf = (-(length - 1)...(length - 1)).map { Self.bucket($0, buckets: buckets, maxDistance: maxDistance) }
        var bias = [Float](repeating: 0, count: heads * length * length)
        for h in 0..<heads {
            for i in 0..<length {
                let row = (h * length + i) * length
                for j in 0..<length {
                    bias[row + j] = j < attendedLength ? values[bucketOf[j - i + length - 1] * heads + h] : -.greatestFiniteMagnitude
                }
            }
        }
        return Tensor(shape: [heads, length, length], values: bias)
    }
}
