/// Tensors that checkpoints carry but no model layer reads (engine-reference 4.2 "Ignored/unused
/// keys"), listed once for `WeightIndex.checkAllConsumed(ignoring:)`.
///
/// They stay in the index (a caller may want `alphas_cumprod`); strict loading skips them. Each
/// entry is matched as a prefix or a suffix of the canonical name, as `checkAllConsumed` does.
public enum IgnoredTensors {
    /// Prefixes or suffixes of canonical names that are not weights of any layer.
    public static let patterns: [String] = [
        // ldm DDPM schedule buffers: betas, alphas_cumprod, alphas_cumprod_prev, sqrt_alphas_cumprod,
        // sqrt_one_minus_alphas_cumprod, log_one_minus_alphas_cumprod, sqrt_recip(m1)_alphas_cumprod.
        "betas", "alphas_cumprod", "alphas_cumprod_prev",
        // posterior_variance, posterior_log_variance_clipped, posterior_mean_coef1/2.
        "posterior_",
        // EMA copies and counters (model_ema.decay, model_ema.num_updates, model_ema.<weights>).
        "model_ema.",
        // CLIP's constant position index buffer, and OpenCLIP's contrastive temperature.
        ".position_ids", "logit_scale",
        // Zero-terminal-SNR / EDM v-prediction markers some SDXL files carry (flags, not weights).
        "ztsnr", "edm_vpred.",
    ]

    /// Whether `name` is one of the ignored tensors.
    public static func contains(_ name: String) -> Bool {
        patterns.contains { name.hasPrefix($0) || name.hasSuffix($0) }
    }
}
