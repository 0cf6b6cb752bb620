import Tensor

/// ControlNet's output for one evaluation: residuals added to the network's skip connections (one
/// per input block, in order) and to its middle block's output, already scaled by the strength.
public struct ControlResiduals: Sendable {
    public var skips: [Tensor]
    public var middle: Tensor

    public init(skips: [Tensor], middle: Tensor) {
        self.skips = skips
        self.middle = middle
    }
}

/// Per-evaluation inputs beyond latent, timestep and text: typed, so each network says which it
/// takes and a new kind (adapters, reference latents) does not widen every call site.
public struct NetworkExtras: Sendable {
    /// Channels concatenated to the latent input ([1, C', h, w]; the inpainting UNet's mask and
    /// masked-picture latent), the same for every batch item.
    public var concatenatedChannels: Tensor?
    /// A ControlNet steering the network, run on the same inputs at every evaluation it is
    /// active for.
    public var control: ControlSignal?

    public init(concatenatedChannels: Tensor? = nil, control: ControlSignal? = nil) {
        self.concatenatedChannels = concatenatedChannels
        self.control = control
    }

    public static let none = NetworkExtras()
}

/// What a network needs from the picture it edits, beyond the noisy latent.
public enum ImageConditioning: Sendable, Equatable {
    /// Nothing: inpainting blends the kept region back after every evaluation.
    case none
    /// A mask and the latent of the picture with the repainted region grey, concatenated to the
    /// input (the 9-channel inpainting UNets).
    case maskAndMaskedLatent
    /// A kind of image input this engine does not run (named).
    case unsupported(String)
}

/// The denoising network of a family, as the driver calls it for every evaluation: its raw output
/// (eps, v or flow; the parameterization knows which) for a batch of latents.
public protocol DenoisingNetwork: Sendable {
    /// Latent sides must be multiples of this (the network's total downsampling).
    var spatialMultiple: Int { get }
    /// What the network needs from an edited picture.
    var imageConditioning: ImageConditioning { get }

    /// - Parameters:
    ///   - x: latents [B, C, h, w].
    ///   - timesteps: one per batch item.
    ///   - conditioning: context [B, L, D] and added [B, A], batched as x.
    /// - Returns: [B, C, h, w].
    func predict(_ x: Tensor, timesteps: [Float], conditioning: Conditioning, extras: NetworkExtras) throws -> Tensor
}
