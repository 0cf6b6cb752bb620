import Tensor

/// Group normalization with affine parameters `weight` and `bias` ([C]).
public struct GroupNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let groups: Int
    public let epsilon: Float

    /// - Parameters: groups and epsilon as the reference model uses them (32 groups everywhere in
    ///   SD; epsilon 1e-5 in UNet ResBlocks, 1e-6 in transformer inputs and the VAE).
    public init(_ w: Weights, groups: Int = 32, epsilon: Float) throws {
        weight = try w.tensor("weight")
        bias = try w.tensor("bias", shape: weight.shape)
        guard weight.rank == 1, weight.count % groups == 0 else {
            throw WeightError.badShape(
                file: w.index.source, tensor: w.key("weight"), shape: weight.shape,
                reason: "group norm over \(groups) groups needs [C] with C a multiple of \(groups)")
        }
        self.groups = groups
        self.epsilon = epsilon
    }

    public var channels: Int { weight.count }

    /// [N, C, ...] -> same shape; `silu` fuses the SiLU that follows nearly every GroupNorm in SD.
    public func callAsFunction(_ x: Tensor, silu: Bool = false) -> Tensor {
        x.groupNorm(groups: groups, weight: weight, bias: bias, epsilon: epsilon, applyingSiLU: silu)
    }
}

/// Layer normalization over the last dimension, with `weight` and `bias` ([D]).
public struct LayerNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let epsilon: Float

    public init(_ w: Weights, epsilon: Float = 1e-5) throws {
        weight = try w.tensor("weight")
        bias = try w.tensor("bias", shape: weight.shape)
        self.epsilon = epsilon
    }

    /// [..., D] -> same shape
    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, epsilon: epsilon) }
}
