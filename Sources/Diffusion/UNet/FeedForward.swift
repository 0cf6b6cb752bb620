import Tensor

/// The transformer block's GEGLU feed-forward: LDM `FeedForward(glu=True)`, diffusers
/// `FeedForward(activation_fn="geglu")`: Linear(C -> 2*inner), hidden * GELU(gate), Linear(inner -> C).
///
/// Keys relative to e.g. `...transformer_blocks.0.ff`: `net.0.proj` and `net.2` (`net.1` is dropout).
struct FeedForward: Sendable {
    let projIn: Linear  // net.0.proj (GEGLU's projection)
    let projOut: Linear  // net.2

    init(_ w: Weights) throws {
        projIn = try Linear(w["net.0.proj"])
        projOut = try Linear(w["net.2"])
    }

    /// Rows (tokens of all batch items) run through at once: the [rows, 2·inner] projection of
    /// a 512x512 picture's 2·4096 tokens would be 84 MB; in chunks it stays near 20 MB, which
    /// lowers the peak without changing a value (each row's result is computed the same way).
    static let rowChunk = 2048

    /// [B, L, C] -> [B, L, C]
    func callAsFunction(_ x: Tensor, rowChunk: Int = FeedForward.rowChunk) -> Tensor {
        let channels = x.shape[x.rank - 1]
        let rows = x.count / max(channels, 1)
        guard rows > rowChunk else {
            return projOut(projIn(x).geglu())  // [B, L, 2*inner] -> [B, L, inner] -> [B, L, C]
        }
        let flat = x.reshaped(rows, channels)  // [B, L, C] -> [B·L, C]
        var parts: [Tensor] = []
        for start in stride(from: 0, to: rows, by: rowChunk) {
            let chunk = flat.narrowed(axis: 0, start: start, length: min(rowChunk, rows - start))
            parts.append(projOut(projIn(chunk).geglu()))
        }
        return Tensor.concat(parts, axis: 0).reshaped(x.shape)  // [B·L, C] -> [B, L, C]
    }
}
