import Foundation
import Tensor

/// Why a ControlNet file cannot steer a model.
public enum ControlNetError: Error, Equatable, CustomStringConvertible {
    /// The ControlNet was trained for another architecture (named in `reason`).
    case doesNotFit(file: String, reason: String)

    public var description: String {
        switch self {
        case .doesNotFit(let file, let reason): "\(file): \(reason)"
        }
    }
}

extension ControlNet {
    /// Loads the ControlNet at `path` for a model whose UNet has geometry `unet`.
    ///
    /// Formats, as `Checkpoint` reads them (safetensors, GGUF or PyTorch `.pth`, any float or
    /// quantized dtype, memory-mapped):
    /// - ControlLDM names `control_model.*` (lllyasviel's ControlNet 1.0 / 1.1 files; a 1.0 file
    ///   that also holds a whole Stable Diffusion model keeps only its `control_model.*` part);
    /// - the same without the prefix (`input_hint_block.*`, `zero_convs.*`, ...);
    /// - diffusers `ControlNetModel` names (`controlnet_cond_embedding.*`, `down_blocks.*`), as a
    ///   single file (most SDXL ControlNets) or a folder with `diffusion_pytorch_model.safetensors`.
    ///
    /// The attention head split and GroupNorm groups, which weights cannot say, are the UNet's
    /// (a ControlNet is a copy of its model's encoder). Strict: every tensor must be used.
    /// - Throws: `WeightError` naming file and tensor (unreadable, missing, mis-shaped, unused),
    ///   `ControlNetError.doesNotFit` when the ControlNet was made for another architecture.
    public static func load(path: String, for unet: UNetConfig) throws -> ControlNet {
        let index = try openIndex(path)
        let w = index.weights("control_model")
        // Another family's ControlNet is told as such, before its layers fail on the UNet's settings.
        let config = try UNetConfig(detectingFrom: w, attention: unet.attention, normGroups: unet.normGroups, decoder: false)
        if let reason = incompatibility(of: config, with: unet) { throw ControlNetError.doesNotFit(file: path, reason: reason) }
        let controlNet = try ControlNet(w, config: config)
        try index.checkAllConsumed(ignoring: IgnoredTensors.patterns)
        return controlNet
    }

    /// Every ControlNet tensor of `path` under its canonical name (`control_model.*`).
    static func openIndex(_ path: String) throws -> WeightIndex {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw WeightError.cannotOpen(file: path, reason: "no such file or folder")
        }
        let raw = isDirectory.boolValue ? try Checkpoint.diffusersPartTensors(path) : try Checkpoint.weightFile(path).tensors
        guard let qualified = qualified(raw) else {
            throw WeightError.badHeader(
                file: path,
                reason: "no ControlNet tensors (control_model.*, input_hint_block.*, or diffusers controlnet_cond_embedding.*)")
        }
        return WeightIndex(source: path, tensors: try Checkpoint.canonicalTensors(qualified, source: path))
    }

    /// A ControlNet file's names as `KeyMap` sources, or nil when it holds none.
    private static func qualified(_ tensors: [String: StoredTensor]) -> [String: StoredTensor]? {
        let root = "control_model."
        if tensors.keys.contains(where: { $0.hasPrefix(root + "input_hint_block.") }) {
            return tensors.filter { $0.key.hasPrefix(root) }
        }
        if tensors.keys.contains(where: { $0.hasPrefix("input_hint_block.") }) {
            return Dictionary(uniqueKeysWithValues: tensors.map { (root + $0.key, $0.value) })
        }
        if tensors.keys.contains(where: { $0.hasPrefix("controlnet_cond_embedding.") }) {
            return Dictionary(uniqueKeysWithValues: tensors.map { ("controlnet/" + $0.key, $0.value) })
        }
        return nil
    }
}
