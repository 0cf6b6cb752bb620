import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// PyTorch checkpoints load through the same path as safetensors ones.
@Suite(.float32Arithmetic) struct PickleCheckpointTests {
    /// Fixture unet_sd1.ckpt (`Tests/Golden/generate_pickle_fixtures.py`): the `weights.*` of
    /// unet_sd1.safetensors saved by torch.save as a Lightning checkpoint,
    /// `{'state_dict': {'model.diffusion_model...': f16}, 'global_step': 0}`.
    @Test func lightningCheckpointGivesTheSameUNetAsTheSafetensorsGolden() throws {
        let golden = try GoldenCase("unet_sd1")
        let checkpoint = try Checkpoint(path: fixturePath("unet_sd1.ckpt"))
        #expect(checkpoint.format == .pytorch)
        #expect(checkpoint.family.architecture == .sd1)
        // The `state_dict.` wrapper is gone: the names are the safetensors file's.
        #expect(checkpoint.index.names == golden.index.names)
        for name in golden.index.names {
            guard let a = golden.index.tensors[name], let b = checkpoint.index.tensors[name] else { continue }
            #expect(a.dtype == b.dtype && a.shape == b.shape && Array(a.bytes) == Array(b.bytes), "\(name)")
        }

        func output(_ index: WeightIndex) throws -> Tensor {
            let w = index.weights("model.diffusion_model")
            let unet = try UNet(w, config: UNetConfig(detectingFrom: w, attention: .count(2), normGroups: 4))
            try index.checkAllConsumed(under: "model.diffusion_model.")
            return unet(try golden.input("x"), timesteps: try golden.input("timesteps").scalars, context: try golden.input("context"))
        }
        let fromPickle = try output(checkpoint.index)
        #expect(fromPickle.scalars == (try output(golden.index)).scalars, "same weights, same output, bit for bit")
        #expect(nmse(fromPickle, try golden.output("out")) <= 1e-5)
    }

    /// A torch.save archive is recognised by its zip magic whatever its name; a file named as a
    /// PyTorch checkpoint that is none gets the PyTorch reader's error.
    @Test func torchFilesAreFoundByContentsOrName() throws {
        try withTemporaryFolder { folder in
            let renamed = folder + "/unet.weights"
            try FileManager.default.copyItem(atPath: fixturePath("unet_sd1.ckpt"), toPath: renamed)
            #expect(try Checkpoint.weightFile(renamed).format == .pytorch)
            let notZip = folder + "/model.pth"
            try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: notZip))
            #expect(throws: WeightError.badMagic(file: notZip)) { try Checkpoint.weightFile(notZip) }
        }
    }
}
