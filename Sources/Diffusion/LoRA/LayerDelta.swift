import Tensor

/// One adapter's change to one layer's output, applied beside the layer's own product so the
/// shared weights are never written (stable-diffusion.cpp's run-time `WeightAdapter`).
///
/// - `lowRank`: LoRA / LoCon, y += scale · up(down(x)). For a Linear, down [r, in] and up
///   [out, r]; for a convolution, down is a convolution with the layer's kernel, stride and
///   padding [r, in, kh, kw] and up a 1x1 one [out, r, 1, 1]. It costs 2r/in of the layer's
///   product per call (r = 16 on a 320-wide attention projection: 10 %).
/// - `dense`: a whole ΔW (LoHa's Hadamard product, LoKr's Kronecker product, made once per
///   request), y += x ΔWᵀ: as dear as the layer itself.
///
/// `outputOffset` places the delta at rows [offset, offset + out) of the layer's output, for a
/// LoRA of q, k or v on a fused in_proj [3D, D] (OpenCLIP's attention kept fused).
public struct LayerDelta: Sendable {
    public enum Kind: Sendable {
        case lowRank(down: WeightMatrix, up: WeightMatrix)
        case dense(WeightMatrix)
    }

    public let kind: Kind
    public let scale: Float
    public let outputOffset: Int

    public init(_ kind: Kind, scale: Float, outputOffset: Int = 0) {
        self.kind = kind
        self.scale = scale
        self.outputOffset = outputOffset
    }

    /// Output features the delta writes.
    public var outFeatures: Int {
        switch kind {
        case .lowRank(_, let up): up.rows
        case .dense(let delta): delta.rows
        }
    }

    /// Input features (per kernel position for a convolution) the delta reads.
    public var inFeatures: Int {
        switch kind {
        case .lowRank(let down, _): down.shape.count == 4 ? down.shape[1] : down.columns
        case .dense(let delta): delta.shape.count == 4 ? delta.shape[1] : delta.columns
        }
    }

    /// y[rowOffset ..< rowOffset + rows(x)] += delta(x), for a Linear's input x [..., in] and
    /// output y [..., out] (viewed as rows).
    func addLinear(_ x: Tensor, into y: inout Tensor, rowOffset: Int = 0) {
        let product: Tensor
        switch kind {
        case .lowRank(let down, let up):
            let h = linear(x, weight: down).scaled(by: scale)  // [..., r]
            if outputOffset == 0 && up.rows == y.shape[y.rank - 1] {
                linear(h, weight: up, addingInto: &y, rowOffset: rowOffset)
                return
            }
            product = linear(h, weight: up)
        case .dense(let delta):
            if outputOffset == 0 && delta.rows == y.shape[y.rank - 1] && scale == 1 {
                linear(x, weight: delta, addingInto: &y, rowOffset: rowOffset)
                return
            }
            product = linear(x, weight: delta).scaled(by: scale)
        }
        addColumns(product, into: &y, rowOffset: rowOffset)
    }

    /// y += delta(x) for a convolution's input x [N, Cin, H, W] and output y [N, Cout, Ho, Wo].
    func addConvolution(_ x: Tensor, stride: Int, padding: Padding2d, into y: inout Tensor) {
        switch kind {
        case .lowRank(let down, let up):
            let h = conv2d(x, weight: down, strideY: stride, strideX: stride, padding: padding).scaled(by: scale)  // [N, r, Ho, Wo]
            y += conv2d(h, weight: up, strideY: 1, strideX: 1, padding: Padding2d(0))
        case .dense(let delta):
            let d = conv2d(x, weight: delta, strideY: stride, strideX: stride, padding: padding)
            y += scale == 1 ? d : d.scaled(by: scale)
        }
    }

    /// Adds `product` [m, n] into columns [outputOffset, outputOffset + n) of rows
    /// [rowOffset, rowOffset + m) of y viewed as [rows, out].
    private func addColumns(_ product: Tensor, into y: inout Tensor, rowOffset: Int) {
        let n = product.shape[product.rank - 1], out = y.shape[y.rank - 1]
        let m = product.count / max(n, 1)
        precondition(outputOffset + n <= out && (rowOffset + m) * out <= y.count, "LayerDelta: \(product.shape) into \(y.shape)")
        product.withUnsafeBufferPointer { p in
            y.withUnsafeMutableBufferPointer { q in
                guard let src = p.baseAddress, let dst = q.baseAddress else { return }
                for row in 0..<m {
                    let s = src + row * n, d = dst + (rowOffset + row) * out + outputOffset
                    for j in 0..<n { d[j] += s[j] }
                }
            }
        }
    }
}

/// The layer deltas of one request, by layer key (a weight's canonical name without `.weight`,
/// `model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q`). Installed for the
/// duration of a generation with `withValue`, read by every `Linear` and `Conv2d` as it runs:
/// nothing outside that scope (another request, the next one) sees them.
public final class LayerAdapters: Sendable {
    public let deltas: [String: [LayerDelta]]

    public init(deltas: [String: [LayerDelta]]) {
        self.deltas = deltas
    }

    @TaskLocal static var current: LayerAdapters?

    /// Runs `body` with these deltas applied to every layer they name.
    public func withValue<R>(_ body: () throws -> R) rethrows -> R {
        try Self.$current.withValue(self) { try body() }
    }

    /// The active deltas of the layer with `key`, if any.
    static func active(_ key: String) -> [LayerDelta]? {
        guard let current else { return nil }
        return current.deltas[key]
    }
}
