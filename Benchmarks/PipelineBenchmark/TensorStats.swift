import Foundation
import Tensor

/// Mean, spread and finiteness of a tensor: printed after each item to show the random weights
/// keep activations sane (a NaN or overflow would also make timings meaningless: denormals and
/// NaNs take slow paths in some kernels).
struct TensorStats: CustomStringConvertible {
    let mean: Double
    let std: Double
    let min: Float
    let max: Float
    let nonFinite: Int

    init(_ tensor: Tensor) {
        var sum = 0.0, squares = 0.0, lo = Float.infinity, hi = -Float.infinity, bad = 0
        tensor.withUnsafeBufferPointer { values in
            for v in values {
                guard v.isFinite else {
                    bad += 1
                    continue
                }
                sum += Double(v)
                squares += Double(v) * Double(v)
                lo = Swift.min(lo, v)
                hi = Swift.max(hi, v)
            }
        }
        let n = Double(Swift.max(tensor.count - bad, 1))
        mean = sum / n
        std = Swift.max(squares / n - mean * mean, 0).squareRoot()
        min = lo
        max = hi
        nonFinite = bad
    }

    var description: String {
        String(format: "mean %.3f, std %.3f, range [%.3f, %.3f]", mean, std, min, max)
            + (nonFinite > 0 ? ", \(nonFinite) NON-FINITE" : ", all finite")
    }
}
