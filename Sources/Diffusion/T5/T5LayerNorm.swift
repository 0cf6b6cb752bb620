import Tensor

/// T5's layer norm: RMS normalization with a weight and no bias or mean subtraction
/// (transformers `T5LayerNorm`, stable-diffusion.cpp `T5LayerNorm`). Reads `weight` [D].
struct T5LayerNorm: Sendable {
    let weight: Tensor
    let epsilon: Float

    init(_ w: Weights, width: Int, epsilon: Float) throws {
        weight = try w.tensor("weight", shape: [width])
        guard !w.contains("bias") else {
            throw WeightError.badShape(
                file: w.index.source, tensor: w.key("bias"), shape: w.shape(of: "bias") ?? [], reason: "T5LayerNorm has no bias")
        }
        self.epsilon = epsilon
    }

    /// [..., D] -> same shape
    func callAsFunction(_ x: Tensor) -> Tensor { x.rmsNorm(weight: weight, epsilon: epsilon) }
}
