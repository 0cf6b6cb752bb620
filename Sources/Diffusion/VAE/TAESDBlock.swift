import Tensor

/// TAESD's residual block: `ReLU(conv(ReLU(conv(ReLU(conv(x))))) + skip(x))` with 3x3 convs and a
/// bias-free 1x1 `skip` only when the width changes (madebyollin/taesd `Block`; diffusers
/// `AutoencoderTinyBlock`).
///
/// Keys are relative to the block, e.g. `decoder.layers.2`.
struct TAESDBlock: Sendable {
    let conv1: Conv2d  // conv.0   (conv.1 and conv.3 are ReLUs)
    let conv2: Conv2d  // conv.2
    let conv3: Conv2d  // conv.4
    let skip: Conv2d?  // skip: nil where the reference has nn.Identity

    init(_ w: Weights) throws {
        conv1 = try Conv2d(w["conv.0"], padding: 1)
        conv2 = try Conv2d(w["conv.2"], padding: 1)
        conv3 = try Conv2d(w["conv.4"], padding: 1)
        skip = w.contains("skip") ? try Conv2d(w["skip"]) : nil
    }

    /// [B, Cin, H, W] -> [B, Cout, H, W]
    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = conv3(conv2(conv1(x).relu()).relu())
        return (h + (skip?.callAsFunction(x) ?? x)).relu()
    }
}

extension Tensor {
    /// max(x, 0), as `torch.relu`.
    func relu() -> Tensor { mappingScalars { Swift.max($0, 0) } }

    /// A copy with `f` applied to every element (small element-wise ops the Tensor module lacks).
    func mappingScalars(_ f: (Float) -> Float) -> Tensor {
        var out = self
        out.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = f(p[i]) }
        }
        return out
    }
}
