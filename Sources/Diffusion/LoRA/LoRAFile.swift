import Foundation
import Tensor

/// Why a LoRA could not be used.
public enum LoRAError: Error, Equatable, CustomStringConvertible {
    /// A tensor whose name is no LoRA part this engine knows (named).
    case unknownTensor(file: String, tensor: String)
    /// A module whose parts do not make a whole adapter (a `lora_up` without its `lora_down`).
    case incomplete(file: String, module: String, reason: String)
    /// A module that names no layer of the model (strict, as model loading is).
    case noSuchLayer(file: String, module: String)
    /// A module whose shapes do not fit its layer.
    case shapeMismatch(file: String, module: String, reason: String)
    /// A kind of adapter this engine does not run (named).
    case unsupported(file: String, module: String, reason: String)
    /// A file that holds no adapter at all.
    case empty(file: String)

    public var description: String {
        switch self {
        case .unknownTensor(let file, let tensor): "\(file): '\(tensor)' is not a LoRA, LoCon, LoHa or LoKr tensor"
        case .incomplete(let file, let module, let reason): "\(file): module '\(module)': \(reason)"
        case .noSuchLayer(let file, let module): "\(file): module '\(module)' matches no layer of the model"
        case .shapeMismatch(let file, let module, let reason): "\(file): module '\(module)': \(reason)"
        case .unsupported(let file, let module, let reason): "\(file): module '\(module)': \(reason)"
        case .empty(let file): "\(file): no LoRA tensors"
        }
    }
}

/// A LoRA file as written by the trainers people use, read into one `LoRAModule` per adapted
/// layer, names as in the file (resolving them onto the model's layers is `LoRAKeyResolver`'s).
///
/// Formats (safetensors, GGUF or PyTorch `torch.save` files, any float dtype):
/// - kohya-ss / A1111 LoRA and LoCon: `<module>.lora_down.weight`, `<module>.lora_up.weight`,
///   `<module>.alpha` (scale alpha / rank; rank when absent);
/// - diffusers / PEFT: `<module>.lora_A.weight`, `<module>.lora_B.weight` (scale 1 unless an
///   `alpha` is stored), and the older `<module>.lora.down.weight` / `.lora.up.weight` and
///   attention-processor `...processor.to_q_lora.down.weight` forms;
/// - LyCORIS LoHa (`hada_w1_a`, `hada_w1_b`, `hada_w2_a`, `hada_w2_b`) and LoKr (`lokr_w1` or
///   `lokr_w1_a`/`_b`, `lokr_w2` or `lokr_w2_a`/`_b`), with `alpha`.
/// Tucker decompositions (`lora_mid`, `hada_t1`, `lokr_t2`), DoRA (`dora_scale`) and bias
/// deltas (`diff_b`) are refused, naming the module.
public struct LoRAFile: Sendable {
    /// One adapted layer: its name in the file and its tensors by part (`down`, `up`, `alpha`,
    /// `hada_w1_a`, ...), decoded to Float32 (adapters are small).
    public struct Module: Sendable {
        public let name: String
        public var parts: [String: Tensor]
    }

    public let path: String
    /// A1111's short hash of the file (`Lora hashes` in a picture's parameters), computed in the
    /// background from loading on (this waits for it); nil for a file made in memory.
    public var hash: String? { pendingHash?.value }
    private let pendingHash: FileHash.Pending?
    /// Modules by name, in sorted order.
    public let modules: [Module]

    /// The parts a module may have, by tensor-name suffix (after `<module>.`).
    static let suffixes: [(suffix: String, part: String)] = [
        ("lora_down.weight", "down"), ("lora_up.weight", "up"),
        ("lora_A.weight", "down"), ("lora_B.weight", "up"),
        ("lora_A.default.weight", "down"), ("lora_B.default.weight", "up"),
        ("lora.down.weight", "down"), ("lora.up.weight", "up"),
        ("alpha", "alpha"),
        ("hada_w1_a", "hada_w1_a"), ("hada_w1_b", "hada_w1_b"), ("hada_w2_a", "hada_w2_a"), ("hada_w2_b", "hada_w2_b"),
        ("lokr_w1", "lokr_w1"), ("lokr_w1_a", "lokr_w1_a"), ("lokr_w1_b", "lokr_w1_b"),
        ("lokr_w2", "lokr_w2"), ("lokr_w2_a", "lokr_w2_a"), ("lokr_w2_b", "lokr_w2_b"),
        // Refused below, by name.
        ("lora_mid.weight", "tucker"), ("hada_t1", "tucker"), ("hada_t2", "tucker"), ("lokr_t2", "tucker"),
        ("dora_scale", "dora"), ("diff_b", "bias"), ("diff", "diff"),
    ]

    /// Float32 values the decoded modules hold.
    public var valueCount: Int { modules.reduce(0) { $0 + $1.parts.values.reduce(0) { $0 + $1.count } } }

    /// A file of the given modules (already decoded).
    init(path: String, modules: [Module]) {
        self.path = path
        self.pendingHash = nil
        self.modules = modules
    }

    /// Opens and decodes `path`.
    /// - Throws: the readers' `WeightError`s, `LoRAError.unknownTensor` / `.unsupported` /
    ///   `.empty`.
    public init(path: String) throws {
        self.path = path
        let tensors = try Checkpoint.weightFile(path).tensors
        var modules: [String: [String: Tensor]] = [:]
        for (name, stored) in tensors {
            guard let (module, part) = Self.split(name) else {
                // Metadata-like tensors some trainers leave (none carry weights) are not adapters.
                if IgnoredTensors.contains(name) { continue }
                throw LoRAError.unknownTensor(file: path, tensor: name)
            }
            switch part {
            case "tucker": throw LoRAError.unsupported(file: path, module: module, reason: "Tucker-decomposed (CP) LyCORIS modules are not supported")
            case "dora": throw LoRAError.unsupported(file: path, module: module, reason: "DoRA (weight-decomposed) modules are not supported")
            case "bias": throw LoRAError.unsupported(file: path, module: module, reason: "bias deltas (diff_b) are not supported")
            case "diff": throw LoRAError.unsupported(file: path, module: module, reason: "full weight deltas (diff) are not supported")
            default: break
            }
            guard stored.dtype.isFloatingPoint else {
                throw WeightError.notFloatingPoint(file: path, tensor: name, dtype: stored.dtype.safetensorsName ?? stored.dtype.rawValue)
            }
            guard modules[module, default: [:]].updateValue(try stored.toTensor(), forKey: part) == nil else {
                throw WeightError.duplicateTensor(file: path, tensor: name)
            }
        }
        guard !modules.isEmpty else { throw LoRAError.empty(file: path) }
        pendingHash = FileHash.Pending(lora: path)
        self.modules = modules.keys.sorted().map { Module(name: $0, parts: modules[$0] ?? [:]) }
    }

    /// `<module>.<suffix>` -> (module, part); the attention-processor form
    /// `...attn1.processor.to_q_lora.down.weight` becomes module `...attn1.to_q` (`to_out_lora`:
    /// `to_out.0`).
    static func split(_ name: String) -> (module: String, part: String)? {
        if let range = name.range(of: ".processor.") {
            let layer = name[range.upperBound...]
            for (suffix, part) in [("_lora.down.weight", "down"), ("_lora.up.weight", "up")] where layer.hasSuffix(suffix) {
                let projection = layer.dropLast(suffix.count)
                return (name[..<range.lowerBound] + "." + (projection == "to_out" ? "to_out.0" : projection), part)
            }
            return nil
        }
        for (suffix, part) in suffixes where name.hasSuffix("." + suffix) {
            return (String(name.dropLast(suffix.count + 1)), part)
        }
        return nil
    }
}
