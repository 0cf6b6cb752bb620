import Foundation
import Tensor

/// What a checkpoint's config files say that its weights cannot: the prediction type, the
/// trained image size and the VAE latent scale. Every field is optional; `Checkpoint` falls back
/// to the `ModelFamily` defaults.
///
/// Read from diffusers config files (only the fields below):
/// - `scheduler/scheduler_config.json`: `prediction_type` (`"epsilon"` or `"v_prediction"`);
/// - `unet/config.json`: `sample_size` (the latent side; an [h, w] pair gives h);
/// - `vae/config.json`: `scaling_factor`;
/// - `text_encoder/config.json`, `text_encoder_2/config.json`: `num_attention_heads`;
/// - `unet/config.json`: `attention_head_dim` (which diffusers, for SD checkpoints, uses as the
///   number of heads: an Int is a head count for every level, a list gives the count per level);
/// - `unet/config.json`, `vae/config.json`: `norm_num_groups` (32 in every released SD model;
///   small test and distilled models use fewer).
///
/// A diffusers folder has them in its part folders. A single file may have them beside it, in the
/// same nested form (the file sits in a diffusers-style config folder, as diffusers'
/// `from_single_file(config=)` expects) or flattened as `scheduler_config.json`,
/// `unet_config.json` and `vae_config.json` (as the built-in model ships them).
public struct CheckpointConfig: Equatable, Sendable {
    /// `prediction_type`, when a scheduler config gives it.
    public var predictionType: PredictionType?
    /// The UNet's `sample_size` (latent cells per side), when a UNet config gives it.
    public var sampleSize: Int?
    /// The VAE's `scaling_factor`, when a VAE config gives it.
    public var vaeScalingFactor: Float?
    /// Attention heads of the text encoders, when their configs give them (weights cannot say).
    public var textEncoderHeads: Int?
    public var textEncoder2Heads: Int?
    /// The UNet's attention heads, when its config gives them (weights cannot say).
    public var unetAttentionHeads: AttentionHeads?
    /// GroupNorm groups of the UNet and of the VAE (`norm_num_groups`), when their configs give
    /// them (weights cannot say; 32 otherwise).
    public var unetNormGroups: Int?
    public var vaeNormGroups: Int?

    /// A config with the given fields.
    public init(predictionType: PredictionType? = nil, sampleSize: Int? = nil, vaeScalingFactor: Float? = nil) {
        self.predictionType = predictionType
        self.sampleSize = sampleSize
        self.vaeScalingFactor = vaeScalingFactor
    }

    /// Reads the config files of diffusers folder `folder`.
    /// - Throws: `WeightError.badHeader` naming a config file that is not valid JSON or holds an
    ///   unsupported `prediction_type`.
    public init(diffusersFolder folder: String) throws {
        try self.init(
            scheduler: [folder + "/scheduler/scheduler_config.json"], unet: [folder + "/unet/config.json"],
            vae: [folder + "/vae/config.json"], textEncoder: [folder + "/text_encoder/config.json"],
            textEncoder2: [folder + "/text_encoder_2/config.json"])
    }

    /// Reads the config files beside single-file checkpoint `file` (nested or flattened, see above).
    /// - Throws: as `init(diffusersFolder:)`.
    public init(besideFile file: String) throws {
        let dir = (file as NSString).deletingLastPathComponent
        let folder = dir.isEmpty ? "." : dir
        try self.init(
            scheduler: [folder + "/scheduler_config.json", folder + "/scheduler/scheduler_config.json"],
            unet: [folder + "/unet_config.json", folder + "/unet/config.json"],
            vae: [folder + "/vae_config.json", folder + "/vae/config.json"],
            textEncoder: [folder + "/text_encoder_config.json", folder + "/text_encoder/config.json"],
            textEncoder2: [folder + "/text_encoder_2_config.json", folder + "/text_encoder_2/config.json"])
    }

    /// Reads the first existing file of each list of candidates.
    private init(scheduler: [String], unet: [String], vae: [String], textEncoder: [String], textEncoder2: [String]) throws {
        self.init()
        if let (path, json) = try Self.firstJSON(scheduler), let value = json["prediction_type"] as? String {
            guard let type = PredictionType(rawValue: value) else {
                throw WeightError.badHeader(
                    file: path, reason: "prediction_type '\(value)' is not supported (epsilon or v_prediction)")
            }
            predictionType = type
        }
        if let (_, json) = try Self.firstJSON(unet) {
            // sample_size is an Int, or an [h, w] pair in some configs.
            sampleSize = (json["sample_size"] as? Int) ?? (json["sample_size"] as? [Int])?.first
            unetNormGroups = (json["norm_num_groups"] as? Int).flatMap { $0 > 0 ? $0 : nil }
            let channels = json["block_out_channels"] as? [Int]
            if let heads = json["attention_head_dim"] as? Int, heads > 0 {
                unetAttentionHeads = .count(heads)
            } else if let heads = json["attention_head_dim"] as? [Int], let first = heads.first, first > 0,
                let width = channels?.first, width % first == 0
            {
                // Per-level counts ([5, 10, 20, 20] for SD 2.x) are a constant head width.
                unetAttentionHeads = .headWidth(width / first)
            }
        }
        textEncoderHeads = try Self.firstJSON(textEncoder).flatMap { $0.object["num_attention_heads"] as? Int }
        textEncoder2Heads = try Self.firstJSON(textEncoder2).flatMap { $0.object["num_attention_heads"] as? Int }
        if let (_, json) = try Self.firstJSON(vae) {
            vaeScalingFactor = (json["scaling_factor"] as? Double).map { Float($0) }
            vaeNormGroups = (json["norm_num_groups"] as? Int).flatMap { $0 > 0 ? $0 : nil }
        }
    }

    /// The first of `paths` that exists, parsed as a JSON object; nil when none exists.
    static func firstJSON(_ paths: [String]) throws -> (path: String, object: [String: Any])? {
        guard let path = paths.first(where: { FileManager.default.fileExists(atPath: $0) }) else { return nil }
        return (path, try readJSONObject(path))
    }

    /// Parses the JSON object in `path`.
    /// - Throws: `WeightError.cannotOpen` if unreadable or not a regular file, `.badHeader` if not
    ///   a JSON object.
    static func readJSONObject(_ path: String) throws -> [String: Any] {
        // Through `MappedFile`, which refuses a FIFO or device at once; FileManager would block
        // on a FIFO until something writes to it.
        let file = try MappedFile(path: path)
        let data = withExtendedLifetime(file) { Data(file.bytes) }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw WeightError.badHeader(file: path, reason: "not a JSON object")
        }
        return object
    }
}
