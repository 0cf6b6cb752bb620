import Tensor

/// The VAE's residual block without timestep input (LDM `ResnetBlock` in
/// `ldm/modules/diffusionmodules/model.py` with `temb_channels=0`; diffusers `ResnetBlock2D`
/// with `temb=None`).
///
/// Keys are relative to the block, e.g. `first_stage_model.encoder.down.1.block.0`.
struct VAEResnetBlock: Sendable {
    let norm1: GroupNorm
    let conv1: Conv2d
    let norm2: GroupNorm
    let conv2: Conv2d
    let shortcut: Conv2d?  // nin_shortcut (1x1): only when the channel count changes

    init(_ w: Weights, groups: Int) throws {
        norm1 = try GroupNorm(w["norm1"], groups: groups, epsilon: 1e-6)
        conv1 = try Conv2d(w["conv1"], padding: 1)
        norm2 = try GroupNorm(w["norm2"], groups: groups, epsilon: 1e-6)
        conv2 = try Conv2d(w["conv2"], padding: 1)
        shortcut = w.contains("nin_shortcut") ? try Conv2d(w["nin_shortcut"]) : nil
    }

    /// [B, Cin, H, W] -> [B, Cout, H, W]
    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv1(norm1(x, silu: true))
        // Dropout (p = 0 at inference) sits between the second SiLU and conv2 in the reference.
        h = conv2(norm2(h, silu: true))
        return (shortcut?.callAsFunction(x) ?? x) + h
    }
}
