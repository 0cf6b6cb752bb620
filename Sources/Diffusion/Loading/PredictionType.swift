/// What the UNet predicts: the noise (SD 1.x, SD 2.x base, SDXL) or v (SD 2.x 768-v models).
///
/// Weights cannot tell them apart; the value comes from a config (diffusers
/// `scheduler_config.json` `prediction_type`) or the caller (engine-reference 4.3).
public enum PredictionType: String, Sendable, CaseIterable {
    /// diffusers `"epsilon"`: `EpsilonPrediction`.
    case epsilon
    /// diffusers `"v_prediction"`: `VPrediction`.
    case v = "v_prediction"
}
