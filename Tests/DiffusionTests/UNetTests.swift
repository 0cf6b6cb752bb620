import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// A random-weight UNet golden and the geometry `UNetConfig` must read off its weights.
struct UNetGolden: Sendable, CustomTestStringConvertible {
    let name: String
    let attention: AttentionHeads
    let levelChannels: [Int]
    let resBlocksPerLevel: Int
    let inputDepths: [[Int]]
    let outputDepths: [[Int]]
    let middleDepth: Int
    let linearProjection: Bool
    let contextDimension: Int
    let addedConditionChannels: Int?
    var testDescription: String { name }
}

@Suite(.float32Arithmetic) struct UNetTests {
    /// Fixtures made by `python Tests/Golden/generate_unet_goldens.py` (diffusers
    /// `UNet2DConditionModel`, seeded random fp16 weights, converted to LDM names; norm_num_groups 4).
    static let goldens = [
        // SD1-like: conv projections, attention at both levels, 2 heads at every level (widths 4, 8).
        UNetGolden(
            name: "unet_sd1", attention: .count(2), levelChannels: [8, 16], resBlocksPerLevel: 2,
            inputDepths: [[1, 1], [1, 1]], outputDepths: [[1, 1, 1], [1, 1, 1]], middleDepth: 1,
            linearProjection: false, contextDimension: 12, addedConditionChannels: nil),
        // SD2-like: linear projections, head width 4, no attention at the deepest level, context 154.
        UNetGolden(
            name: "unet_sd2", attention: .headWidth(4), levelChannels: [8, 16, 16], resBlocksPerLevel: 1,
            inputDepths: [[1], [1], [0]], outputDepths: [[1, 1], [1, 1], [0, 0]], middleDepth: 1,
            linearProjection: true, contextDimension: 8, addedConditionChannels: nil),
        // SDXL-like: label_emb (pooled 8 + 6 x 8 time ids), no attention at level 0, depth 2.
        UNetGolden(
            name: "unet_sdxl", attention: .headWidth(4), levelChannels: [8, 16], resBlocksPerLevel: 1,
            inputDepths: [[0], [2]], outputDepths: [[0, 0], [2, 2]], middleDepth: 2,
            linearProjection: true, contextDimension: 20, addedConditionChannels: 56),
    ]

    /// Fixtures: `python Tests/Golden/generate_unet_goldens.py` (cases unet_sd1, unet_sd2, unet_sdxl).
    @Test(arguments: goldens)
    func configIsReadOffTheWeights(_ golden: UNetGolden) throws {
        let g = try GoldenCase(golden.name)
        let config = try UNetConfig(
            detectingFrom: g.index.weights("model.diffusion_model"), attention: golden.attention, normGroups: 4)
        #expect(config.inChannels == 4 && config.outChannels == 4 && config.modelChannels == 8)
        #expect(config.levelChannels == golden.levelChannels)
        #expect(config.channelMultipliers == golden.levelChannels.map { $0 / 8 })
        #expect(config.resBlocksPerLevel == golden.resBlocksPerLevel)
        #expect(config.inputTransformerDepths == golden.inputDepths)
        #expect(config.outputTransformerDepths == golden.outputDepths)
        #expect(config.hasMiddleBlock && config.middleTransformerDepth == golden.middleDepth)
        #expect(config.linearProjection == golden.linearProjection)
        #expect(config.contextDimension == golden.contextDimension)
        #expect(config.timestepChannels == 8 && config.timeEmbeddingDimension == 32)
        #expect(config.addedConditionChannels == golden.addedConditionChannels)
        #expect(g.index.unconsumed(under: "model.diffusion_model.").count == g.index.names.count, "detection consumes nothing")
    }

    /// Fixtures: `python Tests/Golden/generate_unet_goldens.py` (cases unet_sd1, unet_sd2, unet_sdxl).
    @Test(arguments: goldens)
    func randomWeightUNetMatchesDiffusers(_ golden: UNetGolden) throws {
        let g = try GoldenCase(golden.name)
        let w = g.index.weights("model.diffusion_model")
        let unet = try UNet(w, config: UNetConfig(detectingFrom: w, attention: golden.attention, normGroups: 4))
        try g.index.checkAllConsumed(under: "model.diffusion_model.")

        let added = golden.addedConditionChannels != nil ? try g.input("y") : nil
        let out = unet(try g.input("x"), timesteps: try g.input("timesteps").scalars, context: try g.input("context"), added: added)
        let reference = try g.output("out")
        print("\(golden.name): \(describeDifference(out, reference))")
        // Measured: NMSE 6e-13 to 7e-13, max abs <= 2.7e-6 (fp32 summation-order level).
        #expect(nmse(out, reference) <= 1e-5, "\(golden.name): \(describeDifference(out, reference))")
        #expect(maxAbsDifference(out.scalars, reference.scalars) <= 1e-4, "\(golden.name): \(describeDifference(out, reference))")
    }

    @Test func headSplitThatDoesNotDivideIsAnError() throws {
        let g = try GoldenCase("unet_sd2")
        let w = g.index.weights("model.diffusion_model")
        #expect(throws: WeightError.badShape(
            file: "unet_sd2.safetensors", tensor: "model.diffusion_model.input_blocks.1.1.norm.weight", shape: [8],
            reason: "8 attention channels do not split into heads as headWidth(3)")
        ) { try UNetConfig(detectingFrom: w, attention: .headWidth(3), normGroups: 4) }
    }

    @Test func missingTensorIsNamed() throws {
        let g = try GoldenCase("unet_sd1")
        var tensors = g.index.tensors
        tensors["model.diffusion_model.out.2.weight"] = nil
        let index = WeightIndex(source: "cut", tensors: tensors)
        #expect(throws: WeightError.missingTensor(file: "cut", tensor: "model.diffusion_model.out.2.weight")) {
            try UNetConfig(detectingFrom: index.weights("model.diffusion_model"), attention: .count(2))
        }
    }

    /// The shipped tiny-shapes UNet (Weights/tiny-shapes/tiny-shapes.safetensors, fp16, LDM names)
    /// against diffusers on its fp32 folder. Fixture: `python Tests/Golden/generate_unet_goldens.py`
    /// (case unet_tiny_shapes: inputs, `output.out` from the fp32 weights, `output.out_f16_weights`
    /// from the same weights rounded to fp16).
    @Test func tinyShapesUNetMatchesDiffusers() throws {
        let file = try SafetensorsFile(
            path: repositoryRoot.appendingPathComponent("Weights/tiny-shapes/tiny-shapes.safetensors").path)
        let index = WeightIndex(source: "tiny-shapes.safetensors", tensors: file.tensors)
        let w = index.weights("model.diffusion_model")
        let config = try UNetConfig(detectingFrom: w, attention: .count(8))
        #expect(config.levelChannels == [64, 128, 128] && config.resBlocksPerLevel == 1)
        #expect(config.inputTransformerDepths == [[1], [1], [0]] && config.outputTransformerDepths == [[1, 1], [1, 1], [0, 0]])
        #expect(config.middleTransformerDepth == 1 && !config.linearProjection && config.contextDimension == 64)
        #expect(config.timeEmbeddingDimension == 256 && config.addedConditionChannels == nil)
        let unet = try UNet(w, config: config)
        try index.checkAllConsumed(under: "model.diffusion_model.")

        let g = try GoldenCase("unet_tiny_shapes")
        let out = unet(try g.input("x"), timesteps: try g.input("timesteps").scalars, context: try g.input("context"))
        let sameWeights = try g.output("out_f16_weights"), fp32Weights = try g.output("out")
        print("tiny-shapes vs fp16-rounded weights: \(describeDifference(out, sameWeights))")
        print("tiny-shapes vs fp32 weights: \(describeDifference(out, fp32Weights))")
        // Same (fp16-rounded) weights: measured NMSE 6.7e-14, max abs 1.4e-6.
        #expect(nmse(out, sameWeights) <= 1e-5, "\(describeDifference(out, sameWeights))")
        #expect(maxAbsDifference(out.scalars, sameWeights.scalars) <= 1e-4, "\(describeDifference(out, sameWeights))")
        // Against the fp32 weights the fp16 rounding of the file shows: measured NMSE 5.7e-8, max abs
        // 9.6e-4 (|out| up to ~4); the bounds leave about 10x / 5x headroom.
        #expect(nmse(out, fp32Weights) <= 5e-7, "\(describeDifference(out, fp32Weights))")
        #expect(maxAbsDifference(out.scalars, fp32Weights.scalars) <= 5e-3, "\(describeDifference(out, fp32Weights))")
    }
}
