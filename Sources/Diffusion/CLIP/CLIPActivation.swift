import Tensor

/// The MLP activation of a CLIP text transformer: the weights cannot tell it, so the caller picks it.
public enum CLIPActivation: Sendable, Equatable {
    /// x · sigmoid(1.702 x): OpenAI CLIP ViT-L/14 (SD 1.x, SDXL's first tower); HF `quick_gelu`.
    case quickGELU
    /// Exact erf GELU: OpenCLIP ViT-H/14 (SD 2.x) and ViT-bigG/14 (SDXL's second tower); HF `gelu`.
    case gelu

    /// The family default for an encoder of `width` whose attention is or is not stored fused.
    ///
    /// Fused `in_proj` only occurs in OpenCLIP checkpoints, and widths 1024 / 1280 are OpenCLIP H /
    /// bigG whatever the layout; everything else (768 = CLIP-L, and HF's own default) is QuickGELU.
    public static func familyDefault(width: Int, fusedAttention: Bool) -> CLIPActivation {
        fusedAttention || width == 1024 || width == 1280 ? .gelu : .quickGELU
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .quickGELU: x.quickGELU()
        case .gelu: x.gelu()
        }
    }
}
