import Tensor
import Testing

@testable import Diffusion

@Suite struct KeyMapTests {
    /// The block counts of SD 1.x (4 levels, 2 res blocks each, no attention in up level 0).
    static let sd1 = KeyMap(layout: .init(
        downResnets: [2, 2, 2, 2], downsamplers: [true, true, true, false], upResnets: [3, 3, 3, 3],
        upAttentions: [false, true, true, true], vaeUpLevels: 4))
    /// SDXL: 3 levels, attention in up levels 0 and 1.
    static let sdxl = KeyMap(layout: .init(
        downResnets: [2, 2, 2], downsamplers: [true, true, false], upResnets: [3, 3, 3],
        upAttentions: [true, true, false], vaeUpLevels: 4))

    @Test(arguments: [
        ("unet/conv_in.weight", "model.diffusion_model.input_blocks.0.0.weight"),
        ("unet/down_blocks.1.resnets.0.norm1.weight", "model.diffusion_model.input_blocks.4.0.in_layers.0.weight"),
        ("unet/down_blocks.2.attentions.1.proj_in.weight", "model.diffusion_model.input_blocks.8.1.proj_in.weight"),
        ("unet/down_blocks.1.downsamplers.0.conv.weight", "model.diffusion_model.input_blocks.6.0.op.weight"),
        ("unet/mid_block.resnets.1.time_emb_proj.bias", "model.diffusion_model.middle_block.2.emb_layers.1.bias"),
        ("unet/mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight",
         "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight"),
        ("unet/up_blocks.0.upsamplers.0.conv.weight", "model.diffusion_model.output_blocks.2.1.conv.weight"),
        ("unet/up_blocks.1.upsamplers.0.conv.bias", "model.diffusion_model.output_blocks.5.2.conv.bias"),
        ("unet/up_blocks.3.resnets.2.conv_shortcut.weight", "model.diffusion_model.output_blocks.11.0.skip_connection.weight"),
        ("unet/conv_norm_out.bias", "model.diffusion_model.out.0.bias"),
        ("vae/decoder.up_blocks.0.resnets.2.conv2.weight", "first_stage_model.decoder.up.3.block.2.conv2.weight"),
        ("vae/decoder.up_blocks.2.upsamplers.0.conv.bias", "first_stage_model.decoder.up.1.upsample.conv.bias"),
        ("vae/encoder.down_blocks.1.resnets.0.conv_shortcut.weight", "first_stage_model.encoder.down.1.block.0.nin_shortcut.weight"),
        ("vae/encoder.mid_block.attentions.0.query.weight", "first_stage_model.encoder.mid.attn_1.q.weight"),
        ("vae/decoder.mid_block.attentions.0.to_out.0.bias", "first_stage_model.decoder.mid.attn_1.proj_out.bias"),
        ("vae/decoder.mid_block.resnets.1.norm1.weight", "first_stage_model.decoder.mid.block_2.norm1.weight"),
        ("vae/post_quant_conv.weight", "first_stage_model.post_quant_conv.weight"),
        ("text_encoder/embeddings.token_embedding.weight",
         "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"),
        ("text_encoder_2/text_projection.weight", "cond_stage_model.1.transformer.text_projection.weight"),
        ("cond_stage_model.model.positional_embedding",
         "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight"),
        ("cond_stage_model.model.transformer.resblocks.22.mlp.c_proj.bias",
         "cond_stage_model.transformer.text_model.encoder.layers.22.mlp.fc2.bias"),
        ("cond_stage_model.model.text_projection", "cond_stage_model.transformer.text_projection"),
        ("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
         "cond_stage_model.transformer.text_model.final_layer_norm.weight"),
        ("model.diffusion_model.input_blocks.1.1.proj_in.weight", "model.diffusion_model.input_blocks.1.1.proj_in.weight"),
        ("alphas_cumprod", "alphas_cumprod"),
    ])
    func renamesSD1Sources(_ source: String, _ canonical: String) {
        #expect(Self.sd1.canonicalName(source) == canonical)
    }

    @Test(arguments: [
        // up_blocks.0 has attention in SDXL, so its upsampler is the block's third module.
        ("unet/up_blocks.0.upsamplers.0.conv.weight", "model.diffusion_model.output_blocks.2.2.conv.weight"),
        ("unet/up_blocks.1.attentions.2.norm.bias", "model.diffusion_model.output_blocks.5.1.norm.bias"),
        ("unet/add_embedding.linear_2.bias", "model.diffusion_model.label_emb.0.2.bias"),
        ("unet/down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2.weight",
         "model.diffusion_model.input_blocks.8.1.transformer_blocks.9.ff.net.2.weight"),
        ("conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight",
         "cond_stage_model.1.transformer.text_model.encoder.layers.31.self_attn.in_proj.weight"),
        ("conditioner.embedders.1.model.ln_final.bias", "cond_stage_model.1.transformer.text_model.final_layer_norm.bias"),
        ("conditioner.embedders.1.model.text_projection", "cond_stage_model.1.transformer.text_projection"),
        ("text_encoder_2/text_model.encoder.layers.0.self_attn.q_proj.weight",
         "cond_stage_model.1.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight"),
    ])
    func renamesSDXLSources(_ source: String, _ canonical: String) {
        #expect(Self.sdxl.canonicalName(source) == canonical)
    }

    @Test func layoutIsReadFromTheNames() {
        // tiny-shapes: 3 levels, 1 res block each, no attention in up level 0.
        let names = [
            "unet/down_blocks.0.resnets.0.conv1.weight", "unet/down_blocks.0.downsamplers.0.conv.weight",
            "unet/down_blocks.1.resnets.0.conv1.weight", "unet/down_blocks.1.downsamplers.0.conv.weight",
            "unet/down_blocks.2.resnets.0.conv1.weight", "unet/up_blocks.0.resnets.1.conv1.weight",
            "unet/up_blocks.1.resnets.1.conv1.weight", "unet/up_blocks.1.attentions.0.norm.weight",
            "unet/up_blocks.2.resnets.1.conv1.weight", "vae/decoder.up_blocks.3.resnets.0.conv1.weight",
        ]
        let map = KeyMap(inferringLayoutFrom: names)
        #expect(map.layout == KeyMap.Layout(
            downResnets: [1, 1, 1], downsamplers: [true, true], upResnets: [2, 2, 2], upAttentions: [false, true],
            vaeUpLevels: 4))
        #expect(map.canonicalName("unet/down_blocks.1.downsamplers.0.conv.weight") == "model.diffusion_model.input_blocks.4.0.op.weight")
        #expect(map.canonicalName("unet/up_blocks.0.upsamplers.0.conv.weight") == "model.diffusion_model.output_blocks.1.1.conv.weight")
        #expect(map.canonicalName("unet/up_blocks.2.resnets.1.norm2.bias") == "model.diffusion_model.output_blocks.5.0.out_layers.0.bias")
    }

    @Test func twoSourcesForOneNameAreAnError() {
        let names = ["vae/encoder.mid_block.attentions.0.query.weight", "vae/encoder.mid_block.attentions.0.to_q.weight"]
        #expect(throws: WeightError.duplicateTensor(file: "vae.safetensors", tensor: "first_stage_model.encoder.mid.attn_1.q.weight")) {
            try KeyMap(inferringLayoutFrom: names).canonicalNames(names, source: "vae.safetensors")
        }
    }
}
