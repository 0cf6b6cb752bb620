import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// CLIP text encoders against transformers 5.24 on tiny seeded models, and the built-in
/// tiny-shapes encoder (fp16 single file) against its fp32 diffusers folder.
@Suite(.float32Arithmetic) struct CLIPTextEncoderTests {
    /// `input.ids` ([chunks, 77], stored as float32) as token ids.
    func ids(_ golden: GoldenCase) throws -> [Int] { try golden.input("ids").scalars.map { Int($0) } }

    /// fp32 against fp32: the measured NMSE is 2e-14 ... 9e-14. The bound sits far below the 1e-5 of
    /// the tolerance table because a wrong activation form (tanh instead of erf GELU) or a mask
    /// off by one position would still pass 1e-5 on models this small.
    static let fp32Tolerance = 1e-10

    func expectClose(_ actual: Tensor?, _ reference: Tensor, _ label: String, nmseAtMost tolerance: Double = fp32Tolerance) {
        guard let actual else {
            Issue.record("\(label): no output")
            return
        }
        #expect(actual.shape == reference.shape, "\(label): shape \(actual.shape) vs \(reference.shape)")
        guard actual.shape == reference.shape else { return }
        #expect(nmse(actual, reference) <= tolerance, "\(label): \(describeDifference(actual, reference))")
    }

    /// Fixture: `python Tests/Golden/generate_clip_goldens.py TINY_SHAPES_DIFFUSERS_FOLDER` (case clip_l_tiny):
    /// CLIPTextModel, width 32, 3 layers, 4 heads, quick_gelu, pad = EOS, two chunks.
    @Test func clipLMatchesTransformersForEverySkipSetting() throws {
        let golden = try GoldenCase("clip_l_tiny")
        let encoder = try CLIPTextEncoder(
            golden.index.weights("cond_stage_model.transformer"), heads: 4, activation: .quickGELU, endOfTextID: 127)
        #expect(encoder.layerCount == 3 && encoder.width == 32 && encoder.contextLength == 77 && !encoder.hasProjection)
        try golden.index.checkAllConsumed(under: "cond_stage_model.transformer.", ignoring: CLIPTextEncoder.ignoredTensors)

        let ids = try ids(golden)
        let last = encoder(ids, skip: 1, finalLayerNorm: true)
        expectClose(last.hidden, try golden.output("skip1_ln"), "CLIP-L skip 1 + final LN")
        expectClose(last.pooled, try golden.output("pooled"), "CLIP-L pooler_output")
        let penultimate = encoder(ids, skip: 2, finalLayerNorm: true, pooled: false)
        expectClose(penultimate.hidden, try golden.output("skip2_ln"), "CLIP-L skip 2 + final LN")
        #expect(penultimate.pooled == nil)
        let raw = encoder(ids, skip: 2, finalLayerNorm: false)
        expectClose(raw.hidden, try golden.output("skip2"), "CLIP-L skip 2, no final LN")
        // The pooled output comes from the last layer whatever `skip` is.
        expectClose(raw.pooled, try golden.output("pooled"), "CLIP-L pooled with skip 2")

        // Chunks are independent: encoding the second alone gives the second batch row.
        let second = encoder(Array(ids[77...]), skip: 1, finalLayerNorm: true)
        let reference = try golden.output("skip1_ln").narrowed(axis: 0, start: 1, length: 1)
        #expect(maxAbsDifference(second.hidden, reference) <= 1e-5, "\(describeDifference(second.hidden, reference))")
        let nested = encoder([Array(ids[..<77]), Array(ids[77...])], skip: 1, finalLayerNorm: true)
        #expect(nested.hidden.scalars == last.hidden.scalars)
    }

    /// Fixture: `python Tests/Golden/generate_clip_goldens.py TINY_SHAPES_DIFFUSERS_FOLDER` (case clip_openclip_h_tiny):
    /// OpenCLIP-H-like (gelu, pad 0) with attention stored as fused `self_attn.in_proj`.
    @Test func openCLIPHWithFusedInProjectionMatchesTransformers() throws {
        let golden = try GoldenCase("clip_openclip_h_tiny")
        // No activation given: fused attention marks an OpenCLIP checkpoint, so GELU (erf).
        let encoder = try CLIPTextEncoder(golden.index.weights("cond_stage_model.transformer"), heads: 4, endOfTextID: 127)
        #expect(encoder.activation == .gelu)
        try golden.index.checkAllConsumed(under: "cond_stage_model.transformer.", ignoring: CLIPTextEncoder.ignoredTensors)

        let ids = try ids(golden)
        expectClose(encoder(ids, skip: 1, finalLayerNorm: true).hidden, try golden.output("skip1_ln"), "OpenCLIP-H skip 1")
        expectClose(
            encoder(ids, skip: 2, finalLayerNorm: true, pooled: false).hidden, try golden.output("skip2_ln"),
            "OpenCLIP-H skip 2 + final LN (SD 2.x)")
    }

    /// Fixture: `python Tests/Golden/generate_clip_goldens.py TINY_SHAPES_DIFFUSERS_FOLDER` (case clip_bigg_tiny):
    /// CLIPTextModelWithProjection (gelu, projection 24) stored as OpenCLIP: fused in_proj,
    /// `text_projection` [D, P] (transposed), an unused `logit_scale`.
    @Test func bigGWithOpenCLIPProjectionGivesSDXLOutputs() throws {
        let golden = try GoldenCase("clip_bigg_tiny")
        let encoder = try CLIPTextEncoder(golden.index.weights("cond_stage_model.1.transformer"), heads: 4, endOfTextID: 127)
        #expect(encoder.hasProjection && encoder.pooledWidth == 24 && encoder.activation == .gelu)
        try golden.index.checkAllConsumed(under: "cond_stage_model.1.transformer.", ignoring: CLIPTextEncoder.ignoredTensors)
        #expect(golden.index.unconsumed(under: "cond_stage_model.1.transformer.") == ["cond_stage_model.1.transformer.logit_scale"])

        // SDXL: penultimate layer without final LN; pooled = projected final-LN EOS state.
        let out = encoder(try ids(golden), skip: 2, finalLayerNorm: false)
        expectClose(out.hidden, try golden.output("skip2"), "bigG skip 2, no final LN")
        expectClose(out.pooled, try golden.output("pooled"), "bigG text_embeds (OpenCLIP text_projection)")
    }

    /// Fixture: `python Tests/Golden/generate_clip_goldens.py TINY_SHAPES_DIFFUSERS_FOLDER` (case clip_bigg_hf_tiny):
    /// CLIPTextModelWithProjection in HF layout: separate q/k/v and `text_projection.weight` [P, D].
    @Test func bigGWithHFProjectionGivesSDXLOutputs() throws {
        let golden = try GoldenCase("clip_bigg_hf_tiny")
        let encoder = try CLIPTextEncoder(
            golden.index.weights("cond_stage_model.1.transformer"), heads: 4, activation: .gelu, endOfTextID: 127)
        #expect(encoder.layerCount == 2 && encoder.pooledWidth == 24)
        try golden.index.checkAllConsumed(under: "cond_stage_model.1.transformer.", ignoring: CLIPTextEncoder.ignoredTensors)

        let out = encoder(try ids(golden), skip: 2, finalLayerNorm: false)
        expectClose(out.hidden, try golden.output("skip2"), "bigG (HF) skip 2, no final LN")
        expectClose(out.pooled, try golden.output("pooled"), "bigG (HF) text_embeds")
    }

    /// Fixture: `python Tests/Golden/generate_clip_goldens.py TINY_SHAPES_DIFFUSERS_FOLDER` (case clip_tiny_shapes):
    /// ids of "a red circle on a blue background" from HF CLIPTokenizer and the outputs of the
    /// fp32 diffusers text encoder; here the fp16 single file Weights/tiny-shapes/tiny-shapes.safetensors runs.
    @Test func builtInTinyShapesEncoderMatchesItsFP32Reference() throws {
        let golden = try GoldenCase("clip_tiny_shapes")
        let path = repositoryRoot.appendingPathComponent("Weights/tiny-shapes/tiny-shapes.safetensors").path
        let file = try SafetensorsFile(path: path)
        let index = WeightIndex(source: path, tensors: file.tensors)
        let encoder = try CLIPTextEncoder(index.weights("cond_stage_model.transformer"), heads: 4)
        #expect(encoder.activation == .quickGELU && encoder.layerCount == 4 && encoder.vocabularySize == 49408)
        try index.checkAllConsumed(under: "cond_stage_model.", ignoring: CLIPTextEncoder.ignoredTensors)

        let ids = try ids(golden)
        #expect(Array(ids[..<10]) == [49406, 320, 736, 7117, 525, 320, 1746, 5994, 49407, 49407])
        // fp16 weights against fp32 ones: measured NMSE 5.0e-8 (hidden, skip 1), 6.0e-8 (skip 2),
        // 1.5e-7 (pooled), max abs 1.3e-3; transformers given the same fp16 weights upcast differs
        // from its fp32 self by exactly as much, so this is the weights' rounding.
        let last = encoder(ids, skip: 1, finalLayerNorm: true)
        expectClose(last.hidden, try golden.output("skip1_ln"), "tiny-shapes skip 1 + final LN", nmseAtMost: 1e-7)
        expectClose(last.pooled, try golden.output("pooled"), "tiny-shapes pooler_output", nmseAtMost: 3e-7)
        expectClose(
            encoder(ids, skip: 2, finalLayerNorm: true, pooled: false).hidden, try golden.output("skip2_ln"),
            "tiny-shapes skip 2 + final LN", nmseAtMost: 1e-7)
        // Against the reference run on the same fp16 weights, only fp32 arithmetic differs.
        expectClose(last.hidden, try golden.output("fp16_weights_skip1_ln"), "tiny-shapes, same fp16 weights")
    }

    @Test func defaultHeadsAndActivationFollowTheFamilies() {
        #expect(CLIPActivation.familyDefault(width: 768, fusedAttention: false) == .quickGELU)
        #expect(CLIPActivation.familyDefault(width: 1024, fusedAttention: false) == .gelu)
        #expect(CLIPActivation.familyDefault(width: 1280, fusedAttention: false) == .gelu)
        #expect(CLIPActivation.familyDefault(width: 64, fusedAttention: true) == .gelu)
    }

    @Test func causalMaskHidesLaterTokens() {
        let mask = CLIPAttention.causalMask(length: 3).scalars
        #expect(mask == [0, -.infinity, -.infinity, 0, 0, -.infinity, 0, 0, 0])
    }

    /// Row gathers from a q8_0 table whose rows (48 wide) cut through 32-element blocks.
    @Test func storedRowsMatchTheDecodedTable() throws {
        let (rows, width) = (4, 48)
        var bytes: [UInt8] = []
        for block in 0..<(rows * width / 32) {
            let d = Float16(0.01 * Float(block + 1))
            withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes += $0 }
            bytes += (0..<32).map { UInt8(bitPattern: Int8(truncatingIfNeeded: $0 * 7 - 100 + block)) }
        }
        let file = MappedFile(name: "mem", data: bytes)
        let table = StoredTensor(name: "table", dtype: .q8_0, shape: [rows, width], bytes: file.bytes, file: file)
        let ids = [3, 0, 1, 1, 2]
        #expect(table.rows(at: ids).scalars == (try table.toTensor()).rows(at: ids).scalars)
    }
}
