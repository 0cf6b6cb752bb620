import Foundation
import Tensor
import TestSupport

/// Largest |actual − reference| / max(1, |reference|): the element-wise tolerance of style guide C12.
func maxRelativeError(_ actual: Tensor, _ reference: Tensor) -> Float {
    precondition(actual.shape == reference.shape, "maxRelativeError: \(actual.shape) vs \(reference.shape)")
    var worst: Float = 0
    for (a, r) in zip(actual.scalars, reference.scalars) {
        let e = abs(a - r) / max(1, abs(r))
        if e.isNaN { return .infinity }
        worst = max(worst, e)
    }
    return worst
}

/// Writes a measured error to stderr when `OPS_REPORT` is set, so tolerances can be reviewed
/// against real figures without making normal test runs noisy.
func report(_ label: String, _ value: Double) {
    guard ProcessInfo.processInfo.environment["OPS_REPORT"] != nil else { return }
    FileHandle.standardError.write(Data("OPS_REPORT \(label): \(value)\n".utf8))
}

/// Element-wise tolerance check (C12: max abs ≤ 1e-6 · max(1, |ref|)) with the measured value reported.
func expectElementwise(_ actual: Tensor, _ reference: Tensor, _ label: String, tolerance: Float = 1e-6) -> Bool {
    guard actual.shape == reference.shape else { return false }
    let e = maxRelativeError(actual, reference)
    report(label, Double(e))
    return e <= tolerance
}

/// NMSE tolerance check (C12: reductions, softmax, norms ≤ 1e-7) with the measured value reported.
func expectNMSE(_ actual: Tensor, _ reference: Tensor, _ label: String, tolerance: Double = 1e-7) -> Bool {
    guard actual.shape == reference.shape else { return false }
    let e = nmse(actual, reference)
    report(label, e)
    return e <= tolerance
}
