import ArgumentParser

/// One thing the benchmark times.
enum BenchmarkItem: String, CaseIterable {
    /// One UNet evaluation with CFG: batch 2 (conditional and unconditional), what a sampler step costs.
    case unet
    /// One VAE decode of a [1, 4, h, w] latent.
    case vae
    /// A whole `generate`: text encoding, the sampler's steps, the decode.
    case image

    /// The label in the results table.
    func label(steps: Int) -> String {
        switch self {
        case .unet: "UNet step, CFG (batch 2)"
        case .vae: "VAE decode"
        case .image: "whole image, \(steps) steps euler_a cfg 7"
        }
    }
}

/// `--what`: one item or all of them.
enum ItemSelection: String, CaseIterable, ExpressibleByArgument {
    case unet, vae, image, all

    var items: [BenchmarkItem] { self == .all ? BenchmarkItem.allCases : [BenchmarkItem(rawValue: rawValue)].compactMap { $0 } }
}
