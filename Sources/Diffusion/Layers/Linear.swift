import Tensor

/// A fully connected layer, y = x W^T + b, over the last dimension.
///
/// Reads `weight` ([out, in], or a 1x1 convolution's [out, in, 1, 1], which is the same map: LDM
/// stores some projections as 1x1 convs where diffusers stores Linear) and `bias` if present.
public struct Linear: Sendable {
    public let weight: WeightMatrix
    public let bias: Tensor?
    /// The weight's canonical name without `.weight`: what a request's `LayerAdapters` (LoRA)
    /// are keyed by.
    public let key: String

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
        key = String(w.prefix.dropLast())
    }

    public var inFeatures: Int { weight.columns }
    public var outFeatures: Int { weight.rows }

    /// [..., in] -> [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = linear(x, weight: weight, bias: bias)
        if let deltas = LayerAdapters.active(key) { for delta in deltas { delta.addLinear(x, into: &y) } }
        return y
    }

    /// residual + layer(x), accumulated onto the residual's storage (no copy when the caller
    /// hands over its only reference).
    public func callAsFunction(_ x: Tensor, adding residual: consuming Tensor) -> Tensor {
        var y = residual
        accumulate(x, into: &y)
        return y
    }

    /// y[rowOffset ..< rowOffset + rows(x)] += layer(x), with y viewed as [rows, out] (a row
    /// block of a larger output, as the feed-forward's chunks write theirs).
    public func accumulate(_ x: Tensor, into y: inout Tensor, rowOffset: Int = 0) {
        linear(x, weight: weight, bias: bias, addingInto: &y, rowOffset: rowOffset)
        if let deltas = LayerAdapters.active(key) { for delta in deltas { delta.addLinear(x, into: &y, rowOffset: rowOffset) } }
    }
}
