/// Another implementation's numbers for the same checkpoint: seconds per item (its median where
/// it ran several times) and its peak memory.
struct ReferenceResult {
    /// "stable-diffusion.cpp", "PyTorch".
    let name: String
    var seconds: [BenchmarkItem: Double] = [:]
    var peakBytes: Int?
    /// How the numbers were obtained (shown under the table).
    var notes: [String] = []
}
