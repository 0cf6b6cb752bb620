import Foundation
import Tensor

/// Writes a full-size SD 1.5 checkpoint with random weights (`TensorRecipe`) in one of the
/// `WeightType`s, with our own writers.
///
/// Safetensors goes through `SafetensorsWriter`'s generated-tensor API, which streams a chunk at a
/// time: the 4.3 GB f32 file never exists in memory. GGUF goes through `GGUFWriter`, which keeps
/// every encoded tensor in memory until `write`; for q8_0 that is about 1.6 GB (the file's size)
/// plus one tensor being encoded (at most the 150 MB token embedding in f32), well within the
/// machine's memory, so no streaming GGUF path is needed.
struct RandomCheckpointWriter {
    let recipes: [TensorRecipe]
    let seed: UInt64

    /// Writes the checkpoint to `path`.
    /// - Throws: the writers' `WeightError`s.
    func write(_ type: WeightType, to path: String) throws {
        switch type {
        case .f32: try writeSafetensors(.f32, to: path)
        case .f16: try writeSafetensors(.f16, to: path)
        case .q8_0: try writeGGUF(to: path)
        }
    }

    private func writeSafetensors(_ dtype: DType, to path: String) throws {
        var writer = SafetensorsWriter(metadata: ["format": "pt", "generator": "PipelineBenchmark (random weights)"])
        for recipe in recipes {
            if recipe.isFloat {
                writer.add(recipe.name, shape: recipe.shape, as: dtype, fill: recipe.makeFiller(seed: seed))
            } else {
                writer.add(recipe.name, dtype: .i64, shape: recipe.shape, encodedBytes: recipe.positionIDBytes)
            }
        }
        try writer.write(to: path)
    }

    private func writeGGUF(to path: String) throws {
        var writer = GGUFWriter()
        for recipe in recipes {
            // GGUF has no 0-dimensional tensors (ggml's are at least 1-D): scalars become [1].
            let shape = recipe.shape.isEmpty ? [1] : recipe.shape
            guard recipe.isFloat else {
                try writer.addTensor(recipe.name, dtype: .i64, shape: shape, bytes: recipe.positionIDBytes)
                continue
            }
            var tensor = Tensor(uninitializedShape: shape)
            let filler = recipe.makeFiller(seed: seed)
            tensor.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                filler(0..<buffer.count, base)
            }
            try writer.addTensor(recipe.name, tensor, as: Self.ggufType(recipe))
        }
        try writer.write(to: path)
    }

    /// stable-diffusion.cpp's rule (`tensor_should_be_converted`, with its converter's 2-D guard):
    /// a tensor of two or more dimensions whose innermost dimension is a whole number of q8_0
    /// blocks is quantized, which in SD 1.5 means the linear layers and the text embeddings (the
    /// 3x3 and 1x1 convolutions end in 3 or 1). Everything else is f16; the DDPM buffers, which no
    /// one computes with, stay f32.
    static func ggufType(_ recipe: TensorRecipe) -> DType {
        if case .values = recipe.fill { return .f32 }
        if recipe.shape.count >= 2, let inner = recipe.shape.last, inner % DType.q8_0.blockSize == 0,
            !recipe.name.hasSuffix(".bias")
        {
            return .q8_0
        }
        return .f16
    }
}
