import Foundation

/// Sinusoidal timestep embeddings (DDPM / Transformer positional encoding).
extension Tensor {
    /// Sinusoidal embedding of each timestep: `[N] -> [N, dimension]`.
    ///
    /// With `half = dimension / 2` and `j = 0..<half`:
    /// `freq_j = exp(−ln(maxPeriod) · j / (half − downscaleFreqShift))`, `arg = scale · t · freq_j`,
    /// output `[sin(arg) | cos(arg)]`, or `[cos(arg) | sin(arg)]` when `flipSinToCos`; an odd
    /// `dimension` gets one trailing zero.
    ///
    /// The defaults are what Stable Diffusion uses, and they match both references:
    /// - LDM `timestep_embedding(t, dim, max_period=10000)` (`openaimodel.py`, `[cos | sin]`),
    /// - diffusers `get_timestep_embedding(t, dim, flip_sin_to_cos=True, downscale_freq_shift=0)`,
    ///   as `UNet2DConditionModel` calls it for SD1.x/2.x/SDXL (config `flip_sin_to_cos: true`,
    ///   `freq_shift: 0`). Note that diffusers' *function* defaults differ
    ///   (`flip_sin_to_cos=False`, `downscale_freq_shift=1`): pass those to reproduce them.
    ///
    /// SDXL's size/crop conditioning uses the same embedding with `dimension: 256`.
    ///
    /// Frequencies and arguments are rounded to Float in PyTorch's order (float32 exponent, float32
    /// `exp`, float32 product) because `t · freq` for t ≈ 1000 amplifies any rounding difference
    /// ~1000-fold; sin and cos are then evaluated in Double and rounded once.
    public static func timestepEmbedding(
        _ timesteps: [Float], dimension: Int, flipSinToCos: Bool = true, downscaleFreqShift: Float = 0,
        scale: Float = 1, maxPeriod: Double = 10000
    ) -> Tensor {
        precondition(dimension >= 2, "timestepEmbedding: dimension \(dimension) < 2")
        let half = dimension / 2
        precondition(Float(half) != downscaleFreqShift, "timestepEmbedding: half dimension equals the frequency shift")
        let logPeriod = Float(-Foundation.log(maxPeriod))
        let denominator = Float(half) - downscaleFreqShift
        let freqs = (0..<half).map { j in Foundation.exp(logPeriod * Float(j) / denominator) }
        var out = Tensor(shape: [timesteps.count, dimension], repeating: 0)
        out.withUnsafeMutableBufferPointer { o in
            for (n, t) in timesteps.enumerated() {
                let row = o.baseAddress! + n * dimension
                // First half holds sin unless flipped; the (possible) last column stays zero.
                let sinOffset = flipSinToCos ? half : 0, cosOffset = flipSinToCos ? 0 : half
                for j in 0..<half {
                    var arg = t * freqs[j]
                    if scale != 1 { arg = scale * arg }
                    row[sinOffset + j] = Float(Foundation.sin(Double(arg)))
                    row[cosOffset + j] = Float(Foundation.cos(Double(arg)))
                }
            }
        }
        return out
    }
}
