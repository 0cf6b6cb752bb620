import Tensor

/// The VAE's middle: ResnetBlock, attention, ResnetBlock (LDM `mid.block_1`, `mid.attn_1`,
/// `mid.block_2`; diffusers `UNetMidBlock2D` with one attention layer).
///
/// Keys are relative to `first_stage_model.{encoder,decoder}.mid`.
struct VAEMidBlock: Sendable {
    let block1: VAEResnetBlock  // block_1
    let attention: VAEAttentionBlock  // attn_1
    let block2: VAEResnetBlock  // block_2

    init(_ w: Weights, groups: Int) throws {
        block1 = try VAEResnetBlock(w["block_1"], groups: groups)
        attention = try VAEAttentionBlock(w["attn_1"], groups: groups)
        block2 = try VAEResnetBlock(w["block_2"], groups: groups)
    }

    /// [B, C, H, W] -> [B, C, H, W]
    func callAsFunction(_ x: Tensor) -> Tensor { block2(attention(block1(x))) }
}
