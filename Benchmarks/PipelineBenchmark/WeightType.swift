import ArgumentParser

/// How `write-checkpoint` stores the weights: one of the three types issue 6's table compares.
enum WeightType: String, CaseIterable, ExpressibleByArgument {
    /// Safetensors, every float tensor f32 (about 4.3 GB).
    case f32
    /// Safetensors, every float tensor f16 (about 2.1 GB), as the released fp16 files.
    case f16
    /// GGUF as stable-diffusion.cpp's converter writes it: q8_0 where it would quantize, f16 otherwise.
    case q8_0

    /// The file extension the checkpoint gets by convention.
    var fileExtension: String { self == .q8_0 ? "gguf" : "safetensors" }
}
