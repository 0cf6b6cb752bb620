import Samplers
import Tensor

/// One loaded model as the family-agnostic driver sees it: the four parts a family provides and
/// the defaults that go with them (mlx-swift-examples' per-family presets). Every family
/// (SD 1.x, 2.x and XL today) builds one of these; the driver never asks which family it runs.
public struct ModelComponents: Sendable {
    /// The weights everything was built from (format, detected family, configs).
    public let checkpoint: Checkpoint
    public let conditioner: any TextConditioner
    public let network: any DenoisingNetwork
    public let codec: any LatentCodec
    /// What the network predicts, with the sigma table it was trained on.
    public let parameterization: any Parameterization
    /// The picture side the model was trained at (the default size).
    public let nativeSize: Int
    /// Which Align-Your-Steps table the `ays` schedule uses.
    public let alignYourSteps: AYSSchedule.Variant
    /// The ControlNet that steers the network when a request gives a control picture.
    public var controlNet: ControlNet?

    public init(
        checkpoint: Checkpoint, conditioner: any TextConditioner, network: any DenoisingNetwork, codec: any LatentCodec,
        parameterization: any Parameterization, nativeSize: Int, alignYourSteps: AYSSchedule.Variant
    ) {
        self.checkpoint = checkpoint
        self.conditioner = conditioner
        self.network = network
        self.codec = codec
        self.parameterization = parameterization
        self.nativeSize = nativeSize
        self.alignYourSteps = alignYourSteps
    }

    /// The model family, as detected from the weight header.
    public var family: ModelFamily { checkpoint.family }

    /// The parts for an opened checkpoint, chosen by its detected family; strict: every weight
    /// must be used.
    /// - Parameter controlNet: a ControlNet file or folder for this model (`ControlNet.load`).
    /// - Throws: `WeightError` for missing, mis-shaped or unused tensors (naming file and tensor),
    ///   `ControlNetError.doesNotFit` for a ControlNet made for another architecture.
    public static func load(
        _ checkpoint: Checkpoint, tokenizer: CLIPTokenizer, fastDecoder: TAESDDecoder? = nil, controlNet: String? = nil
    ) throws -> ModelComponents {
        switch checkpoint.family.architecture {
        case .sd1, .sd2, .sdxl:
            try StableDiffusionComponents.load(checkpoint, tokenizer: tokenizer, fastDecoder: fastDecoder, controlNet: controlNet)
        }
    }
}
