import Tensor

/// Finds the layer a LoRA module adapts, by the model's canonical names (LDM single-file names,
/// what every `Linear` and `Conv2d` is keyed by).
///
/// Module names come in the trainers' forms:
/// - kohya-ss: `lora_unet_<path>` with every `.` of the path written `_`, the path in diffusers
///   names (`down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q`) or LDM names
///   (`input_blocks_1_1_transformer_blocks_0_attn1_to_q`); `lora_te_` (SD 1.x / 2.x) or
///   `lora_te1_` / `lora_te2_` (SDXL's two towers) and a Hugging Face CLIP path
///   (`text_model_encoder_layers_0_self_attn_q_proj`);
/// - diffusers / PEFT: `unet.<diffusers path>`, `text_encoder.<path>`, `text_encoder_2.<path>`;
/// - LDM dotted: `model.diffusion_model.<path>`, `cond_stage_model.<path>`.
///
/// A kohya path gets its dots back by joining the `_`-separated pieces into the compound words
/// module names are made of (`down_blocks`, `to_q`, `time_emb_proj`, ...), longest first; the
/// dotted path is then renamed by `KeyMap` like any diffusers name. A q, k or v projection of a
/// tower whose attention is stored fused (OpenCLIP's `in_proj` [3D, D]) adapts a third of it.
struct LoRAKeyResolver {
    /// Where a module's delta goes.
    struct Target: Equatable {
        /// The layer's key (its weight's canonical name without `.weight`).
        let key: String
        /// First output row of the layer the delta writes (fused q/k/v: 0, D, 2D).
        let outputOffset: Int
        /// How many output rows it writes, when not all (a third of a fused in_proj).
        var outputRows: Int? = nil
    }

    let index: WeightIndex
    private let map: KeyMap

    init(index: WeightIndex) {
        self.index = index
        // The diffusers UNet's block numbering, read from the model's own LDM blocks.
        map = KeyMap(layout: Self.layout(of: index))
    }

    /// The layer `module` adapts, or nil when it names none of this model's layers.
    func target(of module: String) -> Target? {
        for candidate in canonicalCandidates(module) {
            if index.tensors[candidate + ".weight"] != nil { return Target(key: candidate, outputOffset: 0) }
            if let fused = fusedProjection(candidate) { return fused }
        }
        return nil
    }

    /// Canonical names the module may mean, most likely first.
    func canonicalCandidates(_ module: String) -> [String] {
        let unet = "model.diffusion_model."
        func diffusers(_ part: String, _ path: String) -> String {
            String(map.canonicalName(part + "/" + path + ".weight").dropLast(".weight".count))
        }
        if module.hasPrefix(unet) || module.hasPrefix("cond_stage_model.") { return [module] }
        if module.hasPrefix("unet.") { return [diffusers("unet", String(module.dropFirst("unet.".count)))] }
        if module.hasPrefix("text_encoder_2.") { return [diffusers("text_encoder_2", String(module.dropFirst("text_encoder_2.".count)))] }
        if module.hasPrefix("text_encoder.") { return [diffusers("text_encoder", String(module.dropFirst("text_encoder.".count)))] }
        for (prefix, part) in [("lora_unet_", "unet"), ("lora_te1_", "text_encoder"), ("lora_te2_", "text_encoder_2"), ("lora_te_", "text_encoder")]
        where module.hasPrefix(prefix) {
            let path = Self.dotted(String(module.dropFirst(prefix.count)))
            if part == "unet" {
                // diffusers paths start with their own block names; anything else is LDM's.
                let diffusersRoots = ["down_blocks.", "up_blocks.", "mid_block.", "conv_in", "conv_out", "conv_norm_out", "time_embedding.", "add_embedding."]
                return diffusersRoots.contains(where: path.hasPrefix) ? [diffusers("unet", path), unet + path] : [unet + path, diffusers("unet", path)]
            }
            return [diffusers(part, path)]
        }
        return []
    }

    /// `q_proj` / `k_proj` / `v_proj` of a layer whose attention is one fused `in_proj`.
    private func fusedProjection(_ key: String) -> Target? {
        let parts: [(String, Int)] = [("self_attn.q_proj", 0), ("self_attn.k_proj", 1), ("self_attn.v_proj", 2)]
        for (suffix, third) in parts where key.hasSuffix(suffix) {
            let fused = String(key.dropLast(suffix.count)) + "self_attn.in_proj"
            guard let shape = index.tensors[fused + ".weight"]?.shape, shape.count == 2 else { return nil }
            return Target(key: fused, outputOffset: third * shape[0] / 3, outputRows: shape[0] / 3)
        }
        return nil
    }

    // MARK: - kohya names

    /// The words module paths are made of that contain `_`, so a kohya name's pieces can be
    /// joined back (longest first: `conv_norm_out` before `conv`).
    static let compoundWords: Set<String> = [
        // diffusers UNet
        "down_blocks", "up_blocks", "mid_block", "transformer_blocks", "conv_in", "conv_out", "conv_norm_out",
        "time_embedding", "linear_1", "linear_2", "add_embedding", "time_emb_proj", "conv_shortcut", "proj_in", "proj_out",
        "to_q", "to_k", "to_v", "to_out",
        // LDM UNet
        "input_blocks", "middle_block", "output_blocks", "in_layers", "out_layers", "emb_layers", "skip_connection",
        "time_embed", "label_emb",
        // CLIP
        "text_model", "self_attn", "q_proj", "k_proj", "v_proj", "out_proj", "final_layer_norm", "layer_norm1",
        "layer_norm2", "text_projection", "token_embedding", "position_embedding", "in_proj",
    ]

    /// `down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q` ->
    /// `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`.
    static func dotted(_ name: String) -> String {
        let pieces = name.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        var words: [String] = []
        var i = 0
        while i < pieces.count {
            var taken = 1
            for length in stride(from: min(3, pieces.count - i), through: 2, by: -1)
            where compoundWords.contains(pieces[i..<(i + length)].joined(separator: "_")) {
                taken = length
                break
            }
            words.append(pieces[i..<(i + taken)].joined(separator: "_"))
            i += taken
        }
        return words.joined(separator: ".")
    }

    // MARK: - diffusers numbering

    /// The diffusers UNet layout that numbers onto this model's LDM blocks: res blocks per level
    /// from the LDM input blocks, up levels from the output blocks (one more res block each),
    /// which levels have attention and downsamplers.
    static func layout(of index: WeightIndex) -> KeyMap.Layout {
        let unet = "model.diffusion_model."
        var perLevel: [Int] = [0], downsamplers: [Bool] = []
        var n = 1
        while !index.names(withPrefix: unet + "input_blocks.\(n).").isEmpty {
            if !index.names(withPrefix: unet + "input_blocks.\(n).0.op.").isEmpty {
                downsamplers.append(true)
                perLevel.append(0)
            } else {
                perLevel[perLevel.count - 1] += 1
            }
            n += 1
        }
        let levels = perLevel.count
        downsamplers += Array(repeating: false, count: max(0, levels - downsamplers.count))
        // Up level i mirrors down level (levels - 1 - i); it has attention when any of its blocks has.
        var upAttentions: [Bool] = []
        var block = 0
        for level in 0..<levels {
            let count = perLevel[levels - 1 - level] + 1
            upAttentions.append((block..<(block + count)).contains { !index.names(withPrefix: unet + "output_blocks.\($0).1.transformer_blocks.").isEmpty })
            block += count
        }
        return KeyMap.Layout(
            downResnets: perLevel, downsamplers: downsamplers, upResnets: (0..<levels).map { perLevel[levels - 1 - $0] + 1 },
            upAttentions: upAttentions, vaeUpLevels: 0)
    }
}
