import Tensor

/// A 2-D convolution over NCHW input. Channel counts and kernel size come from `weight`
/// ([Cout, Cin, kH, kW]); stride and padding are given by the caller, as the weights cannot say them.
public struct Conv2d: Sendable {
    public let weight: WeightMatrix
    public let bias: Tensor?
    public let stride: Int
    public let padding: Padding2d
    /// The weight's canonical name without `.weight` (see `Linear.key`).
    public let key: String

    public init(_ w: Weights, stride: Int = 1, padding: Int = 0) throws {
        try self.init(w, stride: stride, padding: Padding2d(padding))
    }

    public init(_ w: Weights, stride: Int = 1, padding: Padding2d) throws {
        let stored = try w.stored("weight")
        guard stored.shape.count == 4 else {
            throw WeightError.badShape(
                file: stored.file.path, tensor: w.key("weight"), shape: stored.shape, reason: "a conv2d weight has 4 dimensions")
        }
        weight = try WeightMatrix(stored)
        bias = w.contains("bias") ? try w.tensor("bias", shape: [stored.shape[0]]) : nil
        self.stride = stride
        self.padding = padding
        key = String(w.prefix.dropLast())
    }

    public var inChannels: Int { weight.shape[1] }
    public var outChannels: Int { weight.shape[0] }

    /// [N, Cin, H, W] -> [N, Cout, H', W']
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = conv2d(x, weight: weight, bias: bias, strideY: stride, strideX: stride, padding: padding)
        if let deltas = LayerAdapters.active(key) {
            for delta in deltas { delta.addConvolution(x, stride: stride, padding: padding, into: &y) }
        }
        return y
    }
}
