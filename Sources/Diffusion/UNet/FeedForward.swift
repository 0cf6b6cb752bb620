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

    /// [B, L, C] -> [B, L, C]
    func callAsFunction(_ x: Tensor) -> Tensor {
        projOut(projIn(x).geglu())  // [B, L, 2*inner] -> [B, L, inner]
    }
}
