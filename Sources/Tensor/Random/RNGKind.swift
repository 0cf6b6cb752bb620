/// The random generators the engine can reproduce, named as stable-diffusion.cpp's `--rng`.
public enum RNGKind: String, CaseIterable, Sendable {
    /// Philox 4x32-10 + Box-Muller: torch CUDA `randn`, A1111, stable-diffusion.cpp's default.
    case cuda
    /// MT19937 with torch's CPU `randn` rules: diffusers and k-diffusion on a CPU.
    case cpu
    /// libstdc++'s `std::default_random_engine` + `std::normal_distribution<float>`.
    case std_default

    /// A fresh generator of this kind, seeded as the reference seeds it.
    public func makeSource(seed: UInt64) -> any RandomSource {
        switch self {
        case .cuda: return PhiloxGenerator(seed: seed)
        case .cpu: return TorchCPUGenerator(seed: seed)
        case .std_default: return StdDefaultGenerator(seed: seed)
        }
    }
}
