import Samplers
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// The parts the detector builds for the built-in model, the prompt-length bound, and the UNet's
/// control-residual seam.
@Suite(.serialized, .float32Arithmetic) struct PipelineComponentsTests {
    @Test func builtInModelGetsTheSDParts() throws {
        let p = try #require(PipelineTests.pipeline)
        let c = p.components
        #expect(c.conditioner is CLIPTextConditioner && c.codec is VAELatentCodec && c.network is UNet)
        #expect(c.parameterization is EpsilonParameterization && c.parameterization.table == .stableDiffusion)
        #expect(c.codec.channels == 4 && c.codec.downscale == 8 && c.network.spatialMultiple == 1 << (p.unet.config.levelCount - 1))
        #expect(c.network.imageConditioning == .none && c.nativeSize == 256 && c.alignYourSteps == .sd15)
        let sd2v = try PipelineXLSD2Tests.sd2v.get().pipeline.components
        #expect(sd2v.parameterization is VParameterization && sd2v.alignYourSteps == .sd15)
        let xl = try PipelineXLSD2Tests.sdxl.get().pipeline.components
        #expect(xl.conditioner is SDXLTextConditioner && xl.alignYourSteps == .sdxl && xl.parameterization is EpsilonParameterization)
    }

    /// Long prompts are refused (naming the field) rather than encoded at any cost: 32 chunks of 75
    /// tokens pass by default, one more does not, for the negative prompt too.
    @Test func promptsLongerThanTheChunkLimitAreRefused() throws {
        let p = try #require(PipelineTests.pipeline)
        var o = GenerationOptions(prompt: String(repeating: "red ", count: 75 * 32))
        o.steps = 1
        o.width = 64
        o.height = 64
        var limits = GenerationOptions.Limits()
        limits.maxPromptChunks = 3
        #expect(throws: GenerationError.invalidOption(field: "prompt", reason: "takes 32 chunks of 75 tokens, more than the 3 allowed")) {
            try p.generate(o, limits: limits)
        }
        o.prompt = String(repeating: "red ", count: 75 * 3)
        #expect(try p.generate(o, limits: limits).count == 1)
        o.negativePrompt = String(repeating: "blue ", count: 75 * 3 + 1)
        #expect(throws: GenerationError.invalidOption(field: "negative_prompt", reason: "takes 4 chunks of 75 tokens, more than the 3 allowed")) {
            try p.generate(o, limits: limits)
        }
        // With guidance off the negative prompt is never encoded, so it is not checked either.
        o.cfgScale = 1
        #expect(try p.generate(o, limits: limits).count == 1)
    }

    /// ControlNet's seam: zero residuals change nothing; a residual on the middle block or on a
    /// skip changes the output, and the same residual twice gives the same output (no state).
    @Test func controlResidualsAreAddedToSkipsAndMiddle() throws {
        let p = try #require(PipelineTests.pipeline)
        let unet = p.unet
        let x = pseudoRandomTensor([1, 4, 16, 16], seed: 5)
        let context = pseudoRandomTensor([1, 77, unet.config.contextDimension ?? 64], seed: 6)
        // The residual shapes: every input block's output (conv_in, then per level its ResBlocks and
        // a downsampler but for the last level), and the middle block's.
        let c = unet.config
        var shapes: [[Int]] = [[1, c.modelChannels, 16, 16]]
        var side = 16
        for (level, channels) in c.levelChannels.enumerated() {
            shapes += Array(repeating: [1, channels, side, side], count: c.resBlocksPerLevel)
            if level < c.levelCount - 1 {
                side /= 2
                shapes.append([1, channels, side, side])
            }
        }
        #expect(shapes.count == c.inputBlockCount)
        let middleShape = [1, c.levelChannels.last ?? 0, side, side]
        let zeros = ControlResiduals(skips: shapes.map { Tensor.zeros($0) }, middle: Tensor.zeros(middleShape))
        let plain = unet(x, timesteps: [500], context: context)
        #expect(unet(x, timesteps: [500], context: context, control: zeros).scalars == plain.scalars)

        var middle = zeros
        middle.middle = pseudoRandomTensor(middleShape, seed: 7)
        let withMiddle = unet(x, timesteps: [500], context: context, control: middle)
        #expect(nmse(withMiddle, plain) > 1e-6)
        #expect(unet(x, timesteps: [500], context: context, control: middle).scalars == withMiddle.scalars)
        var skip = zeros
        skip.skips[0] = pseudoRandomTensor(shapes[0], seed: 8)
        #expect(nmse(unet(x, timesteps: [500], context: context, control: skip), plain) > 1e-6)
    }
}
