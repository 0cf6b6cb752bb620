import Tensor

/// A fully connected layer, y = x W^T + b, over the last dimension.
///
/// Reads `weight` ([out, in], or a 1x1 convolution's [out, in, 1, 1], which is the same map: LDM
/// stores some projections as 1x1 convs where diffusers stores Linear) and `bias` if present.
public struct Linear: Sendable {
    public let weight: WeightMatrix
    public let bias: Tensor?

    /// - Parameter inFeatures, outFeatures: checked against the weight when given.
    public init(_ w: Weights, inFeatures: Int? = nil, outFeatures: Int? = nil) throws {
        let stored = try w.stored("weight")
        let s = stored.shape
        guard s.count == 2 || (s.count == 4 && s[2] == 1 && s[3] == 1),
            inFeatures.map({ $0 == s[1] }) ?? true, outFeatures.map({ $0 == s[0] }) ?? true
        else {
            throw WeightError.shapeMismatch(
                file: stored.file.path, tensor: w.key("weight"), expected: [outFeatures ?? -1, inFeatures ?? -1], actual: s)
        }
        weight = try WeightMatrix(stored)
        bias = w.contains("bias") ? try w.tensor("bias", shape: [s[0]]) : nil
    }

    public var inFeatures: Int { weight.columns }
    public var outFeatures: Int { weight.rows }

    /// [..., in] -> [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }

    /// residual + layer(x), accumulated onto the residual's storage (no copy when the caller
    /// hands over its only reference).
    public func callAsFunction(_ x: Tensor, adding residual: consuming Tensor) -> Tensor {
        var y = residual
        linear(x, weight: weight, bias: bias, addingInto: &y)
        return y
    }
}
