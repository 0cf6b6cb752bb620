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
    /// a 512x512 picture's 2·4096 tokens would be 84 MB; in chunks of 1024 it is 10 MB, which
    /// lowers the peak without changing a value (each row's result is computed the same way)
    /// and still gives the GEMMs hundreds of rows.
    static let rowChunk = 1024

    /// residual + feed-forward(x), [B, L, C] -> [B, L, C]: each chunk's output projection
    /// accumulates straight into its rows of the residual.
    func callAsFunction(_ x: Tensor, adding residual: consuming Tensor, rowChunk: Int = FeedForward.rowChunk) -> Tensor {
        var out = residual
        let channels = x.shape[x.rank - 1]
        let rows = x.count / max(channels, 1)
        let flat = x.reshaped(rows, channels)  // [B, L, C] -> [B·L, C]
        for start in stride(from: 0, to: rows, by: max(1, rowChunk)) {
            let chunk = rows <= rowChunk ? flat : flat.narrowed(axis: 0, start: start, length: min(rowChunk, rows - start))
            // [n, C] -> [n, 2·inner] -> [n, inner] -> += [n, C]
            projOut.accumulate(projIn(chunk).geglu(), into: &out, rowOffset: start)
        }
        return out
    }
}
