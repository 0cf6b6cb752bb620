import Foundation
import TestSupport
import Tensor

@testable import Samplers

/// Exact posterior mean for data drawn per element from 0.5 N(-1, s^2) + 0.5 N(1, s^2) with
/// s = 0.5: nonlinear, closed form, and the denoiser of Tests/Golden/generate_sampler_goldens.py.
struct MixtureDenoiser: Denoiser {
    let s = 0.5
    let means = [-1.0, 1.0]

    func denoise(_ x: Tensor, sigma: Float) throws -> Tensor {
        let variance = s * s + Double(sigma) * Double(sigma)
        var out = x
        out.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices {
                let v = Double(buffer[i])
                let logW = means.map { -($0 - v) * ($0 - v) / (2 * variance) }
                let top = logW.max() ?? 0
                let w = logW.map { exp($0 - top) }
                let total = w.reduce(0, +)
                var d = 0.0
                for (k, m) in means.enumerated() { d += w[k] / total * (m + s * s / variance * (v - m)) }
                buffer[i] = Float(d)
            }
        }
        return out
    }
}

/// Exact denoiser for x0 ~ N(0, s^2) per element: D = x s^2 / (s^2 + sigma^2).
struct GaussianDenoiser: Denoiser {
    let s: Double

    func denoise(_ x: Tensor, sigma: Float) throws -> Tensor {
        .weightedSum((Float(s * s / (s * s + Double(sigma) * Double(sigma))), x))
    }
}

/// Always answers the same x0, whatever it is asked.
struct OracleDenoiser: Denoiser {
    let x0: Tensor
    func denoise(_ x: Tensor, sigma: Float) throws -> Tensor { x0 }
}

/// Serves pre-recorded noise tensors in order (the noise a reference run drew).
struct RecordedNoise: RandomSource {
    var queue: [Tensor]
    var served = 0

    mutating func normal(shape: [Int]) -> Tensor {
        precondition(served < queue.count, "RecordedNoise: sampler asked for more noise than the reference drew")
        let t = queue[served]
        served += 1
        precondition(t.shape == shape, "RecordedNoise: shape \(shape), recorded \(t.shape)")
        return t
    }
}

/// Slices `t` along its first axis: [K, ...] -> K tensors of shape [...].
func unstack(_ t: Tensor) -> [Tensor] {
    let inner = Array(t.shape.dropFirst())
    let n = inner.reduce(1, *)
    let values = t.scalars
    return (0..<t.shape[0]).map { Tensor(shape: inner, values: Array(values[($0 * n)..<(($0 + 1) * n)])) }
}

func fixturePath(_ name: String) -> String {
    guard let base = Bundle.module.resourceURL else { fatalError("test bundle has no resources") }
    return base.appendingPathComponent("Fixtures").appendingPathComponent(name).path
}
