import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// A1111's skip and interrupt inside the pipeline: the picture being sampled ends after the step
/// that threw, decoded from that step's estimate; a skip goes on with the next picture, a stop
/// returns what there is. The other pictures are the ones an uninterrupted run gives, bit for bit.
@Suite(.serialized, .float32Arithmetic) struct GenerationInterruptionTests {
    func options() -> GenerationOptions {
        var o = GenerationOptions(prompt: "a red circle on a blue background")
        o.width = 64
        o.height = 64
        o.steps = 4
        o.count = 3
        o.seed = 11
        o.sampler = .euler
        return o
    }

    @Test func aSkipEndsOnePictureAndKeepsTheOthers() throws {
        let p = try #require(PipelineTests.pipeline)
        let full = try p.generate(options())
        var estimate: [Float] = []
        let skipped = try p.generate(options()) { step in
            guard step.imageIndex == 1 && step.step == 1 else { return }
            estimate = step.denoised.scalars
            throw GenerationInterruption.skipPicture
        }
        #expect(skipped.count == 3)
        #expect(skipped.map(\.seed) == full.map(\.seed))
        #expect(skipped[0].image.pixels == full[0].image.pixels)
        #expect(skipped[2].image.pixels == full[2].image.pixels)
        #expect(skipped[1].image.pixels != full[1].image.pixels)
        // The kept picture is the estimate after the second step (A1111 decodes its last `denoised`).
        #expect(skipped[1].latent.scalars == estimate)
    }

    @Test func aStopReturnsThePicturesSoFar() throws {
        let p = try #require(PipelineTests.pipeline)
        let full = try p.generate(options())
        var steps = 0
        let stopped = try p.generate(options()) { step in
            steps += 1
            if step.imageIndex == 1 && step.step == 0 { throw GenerationInterruption.stop }
        }
        #expect(stopped.count == 2)
        #expect(stopped[0].image.pixels == full[0].image.pixels)
        #expect(stopped[1].image.pixels != full[1].image.pixels)
        #expect(steps == 5, "no step ran after the stop")
    }

    @Test func anyOtherErrorStillDiscardsTheRun() throws {
        let p = try #require(PipelineTests.pipeline)
        #expect(throws: GenerationError.cancelled) {
            _ = try p.generate(options()) { step in
                if step.imageIndex == 1 { throw GenerationError.cancelled }
            }
        }
    }
}
