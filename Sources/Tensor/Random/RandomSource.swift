/// A seeded source of standard-normal noise, drawn the way a reference implementation draws it.
///
/// One call to `normal(shape:)` is one `torch.randn(shape)` (or one stable-diffusion.cpp
/// `randn(n)`) call: generators whose stream depends on call boundaries (Philox advances its
/// offset once per call, std_default starts a fresh `normal_distribution` per call) keep that
/// behaviour, so a sampler that draws once per step reproduces the reference step for step.
/// Elements are written in row-major (NCHW) order.
public protocol RandomSource {
    /// Draws a tensor of independent N(0, 1) values and advances the generator.
    mutating func normal(shape: [Int]) -> Tensor
}
