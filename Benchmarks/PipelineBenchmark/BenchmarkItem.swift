import ArgumentParser

/// One thing the benchmark times.
enum BenchmarkItem: String, CaseIterable {
    /// One UNet evaluation with CFG: batch 2 (conditional and unconditional), what a sampler step costs.
    case unet
    /// One VAE decode of a [1, 4, h, w] latent.
    case vae
    /// A whole `generate`: text encoding, the sampler's steps, the decode.
    case image
    /// A UNet step steered by a ControlNet (`--control-net`): the ControlNet's residuals for the
    /// same batch of 2, then the UNet with them.
    case controlnet
    /// A UNet step with a LoRA's deltas beside its layers (`--lora`).
    case lora

    /// The label in the results table.
    func label(steps: Int) -> String {
        switch self {
        case .unet: "UNet step, CFG (batch 2)"
        case .vae: "VAE decode"
        case .image: "whole image, \(steps) steps euler_a cfg 7"
        case .controlnet: "ControlNet + UNet step, CFG (batch 2)"
        case .lora: "UNet step with a LoRA, CFG (batch 2)"
        }
    }
}

/// `--what`: one item or all of them.
enum ItemSelection: String, CaseIterable, ExpressibleByArgument {
    case unet, vae, image, controlnet, lora, all

    /// `all` is every item but `controlnet` and `lora`, which `--control-net` and `--lora` add.
    func items(controlNet: Bool, lora: Bool) -> [BenchmarkItem] {
        guard self == .all else { return [BenchmarkItem(rawValue: rawValue)].compactMap { $0 } }
        return BenchmarkItem.allCases.filter { ($0 != .controlnet || controlNet) && ($0 != .lora || lora) }
    }
}
