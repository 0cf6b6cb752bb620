import TestSupport
import Testing

@testable import Tensor

/// `rmsNorm` (T5LayerNorm) against a Double reference written out here: y = w · x / sqrt(mean(x²) + eps).
@Suite struct RMSNormTests {
    static func reference(_ x: Tensor, weight: Tensor, epsilon: Double) -> Tensor {
        let width = x.shape[x.rank - 1]
        let values = x.scalars, w = weight.scalars
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<(values.count / width) {
            let row = values[(r * width)..<((r + 1) * width)]
            let meanSquare = row.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(width)
            for (i, v) in row.enumerated() { out[r * width + i] = Float(Double(w[i]) * Double(v) / (meanSquare + epsilon).squareRoot()) }
        }
        return Tensor(shape: x.shape, values: out)
    }

    @Test(arguments: [[4, 37], [2, 3, 64], [5, 1]])
    func rmsNormMatchesReference(_ shape: [Int]) {
        // A shifted input: a layer norm (mean subtracted) would give a very different result.
        let x = pseudoRandomTensor(shape, seed: 61, scale: 3).affine(scale: 1, shift: 1.5)
        let w = pseudoRandomTensor([shape.last!], seed: 62)
        let actual = x.rmsNorm(weight: w, epsilon: 1e-6)
        #expect(nmse(actual, Self.reference(x, weight: w, epsilon: 1e-6)) <= 1e-12, "rmsNorm \(shape)")
    }
}
