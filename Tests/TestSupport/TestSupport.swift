import Foundation
import Tensor

// Comparison helpers shared by every test target (NMSE, max abs, failure descriptions) and
// deterministic inputs.

/// Normalized mean squared error: sum((a - b)^2) / sum(b^2), accumulated in Double.
/// `reference` is the trusted side. Returns 0 for two all-zero tensors.
public func nmse(_ actual: [Float], _ reference: [Float]) -> Double {
    precondition(actual.count == reference.count, "nmse: \(actual.count) vs \(reference.count) elements")
    var err = 0.0, norm = 0.0
    for (a, r) in zip(actual, reference) {
        let d = Double(a) - Double(r)
        err += d * d
        norm += Double(r) * Double(r)
    }
    if norm == 0 { return err == 0 ? 0 : .infinity }
    return err / norm
}

public func nmse(_ actual: Tensor, _ reference: Tensor) -> Double {
    precondition(actual.shape == reference.shape, "nmse: shapes \(actual.shape) vs \(reference.shape)")
    return nmse(actual.scalars, reference.scalars)
}

/// Largest absolute difference (NaN anywhere gives infinity, so it can never pass a tolerance).
public func maxAbsDifference(_ actual: [Float], _ reference: [Float]) -> Float {
    precondition(actual.count == reference.count, "maxAbsDifference: \(actual.count) vs \(reference.count)")
    var worst: Float = 0
    for (a, r) in zip(actual, reference) {
        let d = abs(a - r)
        if d.isNaN { return .infinity }
        worst = max(worst, d)
    }
    return worst
}

/// A one-line summary for failure messages: NMSE, max abs and the worst index.
public func describeDifference(_ actual: [Float], _ reference: [Float]) -> String {
    var worst: Float = -1, at = -1
    for i in 0..<min(actual.count, reference.count) {
        let d = abs(actual[i] - reference[i])
        if d > worst || d.isNaN { worst = d; at = i }
        if d.isNaN { break }
    }
    let a = at >= 0 ? actual[at] : .nan, r = at >= 0 ? reference[at] : .nan
    return "nmse \(nmse(actual, reference)), max abs \(worst) at \(at) (actual \(a), reference \(r))"
}

public func describeDifference(_ actual: Tensor, _ reference: Tensor) -> String {
    "shape \(actual.shape) vs \(reference.shape); " + describeDifference(actual.scalars, reference.scalars)
}

/// Deterministic pseudo-random floats in [-scale, scale) (SplitMix64), for op inputs.
public func pseudoRandom(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    return (0..<count).map { _ in
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return (Float(z >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
}

public func pseudoRandomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    Tensor(shape: shape, values: pseudoRandom(Tensor.elementCount(shape), seed: seed, scale: scale))
}

public func maxAbsDifference(_ actual: Tensor, _ reference: Tensor) -> Float {
    precondition(actual.shape == reference.shape, "maxAbsDifference: shapes \(actual.shape) vs \(reference.shape)")
    return maxAbsDifference(actual.scalars, reference.scalars)
}

/// Peak signal-to-noise ratio in dB of two byte pictures (peak 255); infinity when equal.
public func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
    precondition(a.count == b.count && !a.isEmpty, "psnr: \(a.count) vs \(b.count) bytes")
    var squared = 0.0
    for (x, y) in zip(a, b) {
        let d = Double(x) - Double(y)
        squared += d * d
    }
    let mse = squared / Double(a.count)
    return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
}
