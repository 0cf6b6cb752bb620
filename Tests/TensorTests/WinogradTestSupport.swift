import TestSupport
import Testing
@testable import Tensor

/// A Winograd convolution test shape, shared by the AVX-512 and the portable path's suites.
struct WinogradCase: CustomTestStringConvertible, Sendable {
    let batch: Int, cin: Int, h: Int, w: Int, cout: Int
    var bias = true
    /// Bytes of transformed filters per block of output channels (small: several blocks); nil:
    /// the path's own bound.
    var filterBudget: Int?
    var threads = 2
    var testDescription: String {
        "\(batch)x\(cin)x\(h)x\(w) -> \(cout)\(bias ? "" : " no bias"), budget \(filterBudget.map(String.init) ?? "default"), "
            + "\(threads) threads"
    }

    init(batch: Int, cin: Int, h: Int, w: Int, cout: Int, bias: Bool = true, filterBudget: Int? = nil, threads: Int = 2) {
        (self.batch, self.cin, self.h, self.w, self.cout) = (batch, cin, h, w, cout)
        (self.bias, self.filterBudget, self.threads) = (bias, filterBudget, threads)
    }
}

/// A Winograd path's `convolve(input:batch:geometry:cout:weight:bias:output:filterBudget:)`.
typealias WinogradConvolve = (
    _ input: UnsafePointer<Float>, _ batch: Int, _ geometry: ConvGeometry, _ cout: Int, _ weight: WeightMatrix,
    _ bias: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>, _ filterBudget: Int
) -> Void

/// conv(x, weight) + bias with 3x3 filters, stride 1 and padding 1 through `convolve`.
func winogradConvolution(
    _ convolve: WinogradConvolve, _ x: Tensor, _ weight: WeightMatrix, bias: Tensor?, filterBudget: Int
) -> Tensor {
    let (batch, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let cout = weight.rows
    let geometry = ConvGeometry(
        cin: cin, h: h, w: w, kh: 3, kw: 3, strideY: 1, strideX: 1, padTop: 1, padLeft: 1, ho: h, wo: w)
    var y = Tensor.zeros([batch, cout, h, w])
    x.withUnsafeBufferPointer { px in
        y.withUnsafeMutableBufferPointer { py in
            withOptionalPointer(bias) { pb in
                convolve(px.baseAddress!, batch, geometry, cout, weight, pb, py.baseAddress!, filterBudget)
            }
        }
    }
    return y
}
