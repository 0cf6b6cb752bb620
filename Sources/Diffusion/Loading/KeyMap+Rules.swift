extension KeyMap {
    /// The renaming table: source layout -> canonical name (engine-reference 4.2; sd.cpp
    /// `name_conversion.cpp`; diffusers `convert_diffusers_to_original_stable_diffusion.py`).
    ///
    /// Order matters: the first rule whose pattern matches wins, so specific patterns come before
    /// the catch-all of their part (`unet/` -> `model.diffusion_model.`). `#` is a block number.
    static let rules: [Rule] =
        diffusersUNet + diffusersControlNet + diffusersVAE + diffusersTextEncoders + singleFileTextEncoders

    private static let unet = "model.diffusion_model."
    private static let controlNet = "control_model."
    private static let vae = "first_stage_model."

    // MARK: diffusers UNet (`unet/`)

    /// Inside a UNet res block (the rest after `down_blocks.I.resnets.J.` etc.).
    private static let unetResBlock: [Rule] = [
        Rule("norm1.", "in_layers.0."),  // in_layers.1 is SiLU
        Rule("conv1.", "in_layers.2."),
        Rule("time_emb_proj.", "emb_layers.1."),  // emb_layers.0 is SiLU
        Rule("norm2.", "out_layers.0."),  // out_layers.1 SiLU, out_layers.2 dropout
        Rule("conv2.", "out_layers.3."),
        Rule("conv_shortcut.", "skip_connection."),
    ]

    /// Transformer internals (`norm`, `proj_in`, `transformer_blocks.K.*`, `proj_out`) have the
    /// same names in both layouts, so attention blocks only change their prefix.
    private static let diffusersUNet: [Rule] = diffusersUNetEncoder(from: "unet/", to: unet) + [
        Rule("unet/up_blocks.#.resnets.#.", then: unetResBlock) { n, l in
            unet + "output_blocks.\(l.outputBlock(level: n[0], index: n[1])).0."
        },
        Rule("unet/up_blocks.#.attentions.#.") { n, l in
            unet + "output_blocks.\(l.outputBlock(level: n[0], index: n[1])).1."
        },
        Rule("unet/up_blocks.#.upsamplers.0.conv.") { n, l in
            let (block, position) = l.upsampler(level: n[0])
            return unet + "output_blocks.\(block).\(position).conv."
        },
        Rule("unet/conv_norm_out.", unet + "out.0."),  // out.1 is SiLU
        Rule("unet/conv_out.", unet + "out.2."),
        Rule("unet/", unet),
    ]

    /// The UNet's first half (conv_in, embeddings, down blocks, mid block) under `source`, in LDM
    /// names under `target`: the UNet's and a ControlNet's, which copies it.
    private static func diffusersUNetEncoder(from source: String, to target: String) -> [Rule] {
        [
            Rule(source + "conv_in.", target + "input_blocks.0.0."),
            Rule(source + "time_embedding.linear_1.", target + "time_embed.0."),
            Rule(source + "time_embedding.linear_2.", target + "time_embed.2."),
            Rule(source + "add_embedding.linear_1.", target + "label_emb.0.0."),  // SDXL
            Rule(source + "add_embedding.linear_2.", target + "label_emb.0.2."),
            Rule(source + "down_blocks.#.resnets.#.", then: unetResBlock) { n, l in
                target + "input_blocks.\(l.inputBlock(level: n[0], index: n[1])).0."
            },
            Rule(source + "down_blocks.#.attentions.#.") { n, l in
                target + "input_blocks.\(l.inputBlock(level: n[0], index: n[1])).1."
            },
            Rule(source + "down_blocks.#.downsamplers.0.conv.") { n, l in
                target + "input_blocks.\(l.downsamplerBlock(level: n[0])).0.op."
            },
            Rule(source + "mid_block.resnets.#.", then: unetResBlock) { n, _ in target + "middle_block.\(2 * n[0])." },
            Rule(source + "mid_block.attentions.0.", target + "middle_block.1."),
        ]
    }

    // MARK: diffusers ControlNet (`controlnet/`)

    /// diffusers `ControlNetModel` -> ControlLDM `ControlNet` (`control_model.*`): the encoder copy
    /// as the UNet's; the hint encoder's convolutions sit at the even indices of LDM's
    /// `input_hint_block` (SiLU between them); one zero conv per input block and one after the
    /// middle block.
    private static let diffusersControlNet: [Rule] = [
        Rule("controlnet/controlnet_cond_embedding.conv_in.", controlNet + "input_hint_block.0."),
        Rule("controlnet/controlnet_cond_embedding.blocks.#.") { n, _ in controlNet + "input_hint_block.\(2 * (n[0] + 1))." },
        Rule("controlnet/controlnet_cond_embedding.conv_out.") { _, l in controlNet + "input_hint_block.\(2 * (l.hintBlocks + 1))." },
        Rule("controlnet/controlnet_down_blocks.#.") { n, _ in controlNet + "zero_convs.\(n[0]).0." },
        Rule("controlnet/controlnet_mid_block.", controlNet + "middle_block_out.0."),
    ] + diffusersUNetEncoder(from: "controlnet/", to: controlNet) + [Rule("controlnet/", controlNet)]

    // MARK: diffusers VAE (`vae/`)

    private static let vaeResBlock: [Rule] = [Rule("conv_shortcut.", "nin_shortcut.")]

    /// Mid-block attention: current diffusers names and the older ones (`query`, `proj_attn`).
    private static let vaeAttention: [Rule] = [
        Rule("group_norm.", "norm."),
        Rule("to_q.", "q."), Rule("query.", "q."),
        Rule("to_k.", "k."), Rule("key.", "k."),
        Rule("to_v.", "v."), Rule("value.", "v."),
        Rule("to_out.0.", "proj_out."), Rule("proj_attn.", "proj_out."),
    ]

    private static let diffusersVAE: [Rule] =
        ["encoder", "decoder"].flatMap { part -> [Rule] in
            [
                Rule("vae/\(part).mid_block.resnets.#.", then: vaeResBlock) { n, _ in vae + "\(part).mid.block_\(n[0] + 1)." },
                Rule("vae/\(part).mid_block.attentions.0.", vae + "\(part).mid.attn_1.", then: vaeAttention),
                Rule("vae/\(part).conv_norm_out.", vae + "\(part).norm_out."),
            ]
        } + [
            Rule("vae/encoder.down_blocks.#.resnets.#.", then: vaeResBlock) { n, _ in
                vae + "encoder.down.\(n[0]).block.\(n[1])."
            },
            Rule("vae/encoder.down_blocks.#.downsamplers.0.") { n, _ in vae + "encoder.down.\(n[0]).downsample." },
            // The decoder's level order is reversed (see `Layout`).
            Rule("vae/decoder.up_blocks.#.resnets.#.", then: vaeResBlock) { n, l in
                vae + "decoder.up.\(l.vaeUpBlock(level: n[0])).block.\(n[1])."
            },
            Rule("vae/decoder.up_blocks.#.upsamplers.0.") { n, l in
                vae + "decoder.up.\(l.vaeUpBlock(level: n[0])).upsample."
            },
            Rule("vae/", vae),  // conv_in, conv_out, quant_conv, post_quant_conv
        ]

    // MARK: text encoders

    /// Hugging Face CLIP files name the model `text_model.*`; some writers (transformers >= 5's
    /// `state_dict()`) drop that prefix, so bare names are put back under it.
    private static let diffusersTextEncoders: [Rule] = [
        Rule("text_encoder/text_model.", "cond_stage_model.transformer.text_model."),
        Rule("text_encoder/text_projection.", "cond_stage_model.transformer.text_projection."),
        Rule("text_encoder/", "cond_stage_model.transformer.text_model."),
        // sd.cpp maps this part to `cond_stage_model.transformer.1.` by a missing prefix entry
        // (engine-reference 4.7 pitfall 2); the canonical root is `cond_stage_model.1.transformer.`.
        Rule("text_encoder_2/text_model.", "cond_stage_model.1.transformer.text_model."),
        Rule("text_encoder_2/text_projection.", "cond_stage_model.1.transformer.text_projection."),
        Rule("text_encoder_2/", "cond_stage_model.1.transformer.text_model."),
    ]

    /// One OpenCLIP residual block (the rest after `transformer.resblocks.L.`). The fused
    /// `in_proj` (rows q; k; v) stays fused: the encoder accepts it as it is.
    private static let openCLIPBlock: [Rule] = [
        Rule("ln_1.", "layer_norm1."),
        Rule("ln_2.", "layer_norm2."),
        Rule("attn.in_proj_weight", "self_attn.in_proj.weight"),
        Rule("attn.in_proj_bias", "self_attn.in_proj.bias"),
        Rule("attn.out_proj.", "self_attn.out_proj."),
        Rule("mlp.c_fc.", "mlp.fc1."),
        Rule("mlp.c_proj.", "mlp.fc2."),
    ]

    /// An OpenCLIP text tower (the rest after its root) in Hugging Face CLIP names.
    /// `text_projection` keeps its name and OpenCLIP orientation [D, P]; `logit_scale` is kept
    /// (and ignored, `IgnoredTensors`).
    private static let openCLIP: [Rule] = [
        Rule("transformer.resblocks.#.", then: openCLIPBlock) { n, _ in "text_model.encoder.layers.\(n[0])." },
        Rule("token_embedding.", "text_model.embeddings.token_embedding."),
        Rule("positional_embedding", "text_model.embeddings.position_embedding.weight"),
        Rule("ln_final.", "text_model.final_layer_norm."),
    ]

    /// SD 2.x (`cond_stage_model.model.`, OpenCLIP-H) and SDXL (SGM `conditioner.embedders.*`).
    private static let singleFileTextEncoders: [Rule] = [
        Rule("cond_stage_model.model.", "cond_stage_model.transformer.", then: openCLIP),
        Rule("conditioner.embedders.0.transformer.", "cond_stage_model.transformer."),
        Rule("conditioner.embedders.1.model.", "cond_stage_model.1.transformer.", then: openCLIP),
    ]
}
