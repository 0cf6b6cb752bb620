import Foundation
import Tensor

/// A Stable Diffusion model opened from disk: every tensor under its canonical name in one
/// `WeightIndex`, the `ModelFamily` its shapes show, and what its config files say.
///
/// Formats (engine-reference 4.1, 4.2, 4.5):
/// - a single `.safetensors` file in LDM (SD 1.x/2.x) or SGM (SDXL) naming;
/// - a `.gguf` file as stable-diffusion.cpp writes it (the source file's LDM names), or a
///   UNet-only GGUF without the `model.diffusion_model.` prefix (ComfyUI-GGUF);
/// - a PyTorch `torch.save` file (`.ckpt`, `.pt`, `.pth`, `.bin`), read by `TorchPickleFile`
///   without running its pickle; a Lightning checkpoint's `state_dict.` prefix is dropped;
/// - a diffusers folder (`model_index.json`; `unet/`, `vae/`, `text_encoder/`, `text_encoder_2/`
///   with `diffusion_pytorch_model.safetensors` or `model.safetensors`, their `.fp16` variants, or
///   sharded `*.safetensors.index.json`; else the same as PyTorch `.bin` files).
///
/// Any dtype the readers know (f32, f16, bf16, GGUF block quantizations) is kept as stored: tensors
/// are views into the files' memory mappings, decoded only when a layer asks, so opening a model
/// makes no second copy of its weights. Renaming goes through `KeyMap` once, here.
public struct Checkpoint: Sendable {
    /// How the model is stored.
    public enum Format: String, Sendable {
        case safetensors, gguf, diffusers
        /// A PyTorch `torch.save` zip archive (`.ckpt`, `.pt`, `.pth`, `.bin`).
        case pytorch
    }

    /// The path opened (file or folder).
    public let path: String
    /// Its format.
    public let format: Format
    /// Every tensor under its canonical name (the VAE's from `vaePath` when one was given).
    public let index: WeightIndex
    /// The architecture detected from the index.
    public let family: ModelFamily
    /// What the config files beside or inside the checkpoint say, with the caller's override.
    public let config: CheckpointConfig

    /// Diffusers folders that hold weights, in loading order.
    public static let diffusersWeightParts = ["unet", "vae", "text_encoder", "text_encoder_2"]

    /// Opens `path` and, if given, replaces its VAE with the one in `vaePath`.
    ///
    /// - Parameters:
    ///   - vaePath: a VAE file (`.safetensors`, `.gguf` or PyTorch `.ckpt`/`.pt`/`.pth`; names `first_stage_model.*`, bare LDM
    ///     `encoder.*`/`decoder.*`/`quant_conv.*`, or diffusers VAE names) or a diffusers `vae/`
    ///     folder. Its tensors replace every `first_stage_model.*` tensor of the checkpoint.
    ///   - predictionType: overrides the configs' `prediction_type` (weights cannot tell).
    /// - Throws: `WeightError` naming the path: `.cannotOpen` (missing path, folder without
    ///   `model_index.json`, a diffusers part without weights, legacy torch < 1.6 pickles),
    ///   `.forbiddenGlobal` (a pickle naming anything but tensor constructors),
    ///   `.duplicateTensor` (two tensors renamed onto one name), the readers' format errors, and
    ///   `ModelFamily`'s when the index holds no usable UNet.
    public init(path: String, vaePath: String? = nil, predictionType: PredictionType? = nil) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw WeightError.cannotOpen(file: path, reason: "no such file or folder")
        }
        var tensors: [String: StoredTensor]
        var config: CheckpointConfig
        if isDirectory.boolValue {
            format = .diffusers
            tensors = try Self.canonicalTensors(Self.diffusersFolderTensors(path), source: path)
            config = try CheckpointConfig(diffusersFolder: path)
        } else {
            let file = try Self.weightFile(path)
            format = file.format
            tensors = try Self.canonicalTensors(Self.qualifiedAsModel(file.tensors), source: path)
            config = try CheckpointConfig(besideFile: path)
        }
        if let vaePath {
            let vae = try Self.vaeTensors(vaePath)
            tensors = tensors.filter { !$0.key.hasPrefix("first_stage_model.") }.merging(vae) { a, _ in a }
        }
        if let predictionType { config.predictionType = predictionType }
        self.path = path
        self.config = config
        index = WeightIndex(source: path, tensors: tensors)
        family = try ModelFamily(detectingFrom: index)
    }

    /// The prediction type: the config's (or the caller's), else epsilon.
    public var predictionType: PredictionType { config.predictionType ?? .epsilon }

    /// The VAE's pixels per latent cell: 2^(decoder levels - 1), 8 for every SD VAE.
    public var vaeDownscale: Int {
        let levels = Set(index.names(withPrefix: "first_stage_model.decoder.up.").compactMap { name in
            KeyMap.match("first_stage_model.decoder.up.#.", Substring(name))?.numbers.first
        }).count
        return levels > 0 ? 1 << (levels - 1) : 8
    }

    /// The image side the model was trained at: the UNet config's `sample_size` times the VAE
    /// downscale when a config gives it (256 for the built-in tiny-shapes), else the family's.
    public var resolution: Int {
        config.sampleSize.map { $0 * vaeDownscale } ?? family.nativeResolution(prediction: predictionType)
    }

    /// The VAE latent scaling factor: the VAE config's, else the family's.
    public var vaeScalingFactor: Float { config.vaeScalingFactor ?? family.vaeScalingFactor }

    /// Strict loading: throws `WeightError.unusedTensors` listing every tensor that no layer read,
    /// except the family's `ignoredTensors`. Call after building all the models.
    public func checkAllConsumed() throws {
        try index.checkAllConsumed(ignoring: family.ignoredTensors)
    }

    // MARK: - Files

    /// One opened weight file.
    struct WeightFile {
        let format: Format
        let tensors: [String: StoredTensor]
    }

    /// The extensions of PyTorch `torch.save` files.
    public static let pytorchExtensions: Set<String> = ["ckpt", "pt", "pth", "bin"]

    /// Opens a weight file by its contents first: GGUF when it starts with the GGUF magic, a
    /// PyTorch zip archive when it starts with `PK\3\4`; else by its name (`.gguf`, the
    /// PyTorch extensions, so a damaged one gets that reader's error), else safetensors.
    /// - Throws: the readers' errors (`TorchPickleFile`'s for a legacy or hostile pickle).
    static func weightFile(_ path: String) throws -> WeightFile {
        let ext = (path as NSString).pathExtension.lowercased()
        let mapped = try MappedFile(path: path)
        let hasGGUFMagic = mapped.bytes.count >= 4 && mapped.bytes.loadUnaligned(as: UInt32.self).littleEndian == 0x4655_4747  // "GGUF"
        if hasGGUFMagic || ext == "gguf" {
            return WeightFile(format: .gguf, tensors: try GGUFFile(file: mapped).tensors)
        }
        if ZipArchive.hasSignature(mapped.bytes) || pytorchExtensions.contains(ext) {
            return WeightFile(format: .pytorch, tensors: withoutLightningWrapper(try TorchPickleFile(file: mapped).tensors))
        }
        return WeightFile(format: .safetensors, tensors: try SafetensorsFile(file: mapped).tensors)
    }

    /// A PyTorch Lightning checkpoint (`{'state_dict': {...}, 'global_step': ...}`, as the SD
    /// 1.x/2.x `.ckpt` releases are) keeps the model's own names under `state_dict.`; they are
    /// returned without it, so `KeyMap` sees what a safetensors conversion holds. Tensors of
    /// Lightning's training state beside it (`optimizer_states`, `lr_schedulers`, `callbacks`)
    /// are dropped. Any other file is returned as it is.
    static func withoutLightningWrapper(_ tensors: [String: StoredTensor]) -> [String: StoredTensor] {
        let wrapper = "state_dict."
        let trainingState = ["optimizer_states.", "lr_schedulers.", "callbacks."]
        let model = tensors.filter { name, _ in !trainingState.contains { name.hasPrefix($0) } }
        guard !model.isEmpty, model.keys.allSatisfy({ $0.hasPrefix(wrapper) }) else { return tensors }
        return Dictionary(uniqueKeysWithValues: model.map { (String($0.key.dropFirst(wrapper.count)), $0.value) })
    }

    /// The tensors of a diffusers folder, named `<part>/<name>` for `KeyMap`.
    /// - Throws: `WeightError.cannotOpen` when `model_index.json` is missing or a part it lists has
    ///   no safetensors weights.
    static func diffusersFolderTensors(_ folder: String) throws -> [String: StoredTensor] {
        let indexPath = folder + "/model_index.json"
        guard FileManager.default.fileExists(atPath: indexPath) else {
            throw WeightError.cannotOpen(
                file: folder, reason: "a folder must be a diffusers pipeline with model_index.json")
        }
        let modelIndex = try CheckpointConfig.readJSONObject(indexPath)
        var result: [String: StoredTensor] = [:]
        for part in diffusersWeightParts {
            // model_index.json lists a part as [library, class], or [null, null] when absent.
            guard let entry = modelIndex[part] as? [Any], entry.contains(where: { $0 is String }) else { continue }
            for (name, tensor) in try diffusersPartTensors(folder + "/" + part) {
                guard result.updateValue(tensor, forKey: part + "/" + name) == nil else {
                    throw WeightError.duplicateTensor(file: folder + "/" + part, tensor: name)
                }
            }
        }
        return result
    }

    /// The tensors of one diffusers part folder (`unet/`, `vae/`, ...): its safetensors weights,
    /// else its PyTorch `.bin` weights (`diffusion_pytorch_model.bin`, `pytorch_model.bin`, their
    /// `.fp16` variants or a sharded `*.bin.index.json`), as `from_pretrained` falls back.
    /// - Throws: `WeightError.cannotOpen` naming the folder when it has neither.
    static func diffusersPartTensors(_ folder: String) throws -> [String: StoredTensor] {
        let candidates = [
            (["diffusion_pytorch_model", "model"], "safetensors"), (["diffusion_pytorch_model", "pytorch_model"], "bin"),
        ]
        for (stems, ext) in candidates {
            // Full precision first, as diffusers does without `variant=`.
            for variant in ["", ".fp16"] {
                for stem in stems {
                    let file = "\(folder)/\(stem)\(variant).\(ext)"
                    if FileManager.default.fileExists(atPath: file) { return try weightFile(file).tensors }
                    let shardIndex = file + ".index.json"
                    if FileManager.default.fileExists(atPath: shardIndex) { return try shardedTensors(shardIndex) }
                }
            }
        }
        throw WeightError.cannotOpen(
            file: folder,
            reason: "no diffusion_pytorch_model.safetensors or model.safetensors (or .fp16 variant), nor a PyTorch .bin of them")
    }

    /// The tensors of a sharded model (`weight_map` of a `*.safetensors.index.json` or `*.bin.index.json`).
    static func shardedTensors(_ indexPath: String) throws -> [String: StoredTensor] {
        guard let weightMap = try CheckpointConfig.readJSONObject(indexPath)["weight_map"] as? [String: String] else {
            throw WeightError.badHeader(file: indexPath, reason: "no weight_map object")
        }
        let folder = (indexPath as NSString).deletingLastPathComponent
        var result: [String: StoredTensor] = [:]
        for shard in Set(weightMap.values).sorted() {
            for (name, tensor) in try weightFile(folder + "/" + shard).tensors {
                guard result.updateValue(tensor, forKey: name) == nil else {
                    throw WeightError.duplicateTensor(file: indexPath, tensor: name)
                }
            }
        }
        return result
    }

    /// The tensors of a separate VAE (file or diffusers `vae/` folder), under canonical names.
    /// - Throws: `WeightError.badHeader` when it holds no VAE tensors, and as `weightFile(_:)`.
    static func vaeTensors(_ path: String) throws -> [String: StoredTensor] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw WeightError.cannotOpen(file: path, reason: "no such file or folder")
        }
        let raw = isDirectory.boolValue ? try diffusersPartTensors(path) : try weightFile(path).tensors
        let vae = try canonicalTensors(qualifiedAsVAE(raw), source: path).filter { $0.key.hasPrefix("first_stage_model.") }
        guard !vae.isEmpty else {
            throw WeightError.badHeader(
                file: path, reason: "no VAE tensors (first_stage_model.*, encoder.*/decoder.*, or diffusers VAE names)")
        }
        return vae
    }

    // MARK: - Naming

    /// Renames source-qualified tensors to canonical names with a `KeyMap` read from the same names.
    static func canonicalTensors(_ tensors: [String: StoredTensor], source: String) throws -> [String: StoredTensor] {
        let map = KeyMap(inferringLayoutFrom: tensors.keys)
        return try map.canonicalNames(tensors.keys, source: source).compactMapValues { tensors[$0] }
    }

    /// A whole-model file's names as `KeyMap` sources: LDM/SGM names as they are; a bare LDM UNet
    /// (ComfyUI-style GGUF) under `model.diffusion_model.`; a bare diffusers UNet under `unet/`.
    static func qualifiedAsModel(_ tensors: [String: StoredTensor]) -> [String: StoredTensor] {
        let roots = ["model.diffusion_model.", "first_stage_model.", "cond_stage_model.", "conditioner."]
        if tensors.keys.contains(where: { name in roots.contains { name.hasPrefix($0) } }) { return tensors }
        if tensors.keys.contains(where: { $0.hasPrefix("input_blocks.") }) {
            return prefixed(tensors, "model.diffusion_model.")
        }
        if tensors.keys.contains(where: { $0.hasPrefix("down_blocks.") }) { return prefixed(tensors, "unet/") }
        return tensors
    }

    /// A VAE file's names as `KeyMap` sources: `first_stage_model.*` as they are; diffusers names
    /// (`down_blocks`, `up_blocks`, `mid_block`) under `vae/`; bare LDM names under
    /// `first_stage_model.`.
    static func qualifiedAsVAE(_ tensors: [String: StoredTensor]) -> [String: StoredTensor] {
        if tensors.keys.contains(where: { $0.hasPrefix("first_stage_model.") }) { return tensors }
        let diffusersMarks = [".down_blocks.", ".up_blocks.", ".mid_block."]
        if tensors.keys.contains(where: { name in diffusersMarks.contains { name.contains($0) } }) {
            return prefixed(tensors, "vae/")
        }
        return prefixed(tensors, "first_stage_model.")
    }

    private static func prefixed(_ tensors: [String: StoredTensor], _ prefix: String) -> [String: StoredTensor] {
        Dictionary(uniqueKeysWithValues: tensors.map { (prefix + $0.key, $0.value) })
    }
}
