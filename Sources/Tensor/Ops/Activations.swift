import Foundation
import SIMDMath
import TensorKernels
import TensorKernelsAVX2

/// Activation functions: SiLU, GELU (erf and tanh forms), quick-GELU and the fused GEGLU of SD's
/// transformer feed-forward.
///
/// All are vectorized: SiLU, tanh-GELU and quick-GELU through `VectorMath.exp` (≤ 2 ulp), the erf
/// form of GELU through `SIMDMath.normalCDF` (relative error a few 1e-7 in both tails).
extension Tensor {
    /// x · sigmoid(x) (a.k.a. swish), as `torch.nn.functional.silu`.
    public func silu() -> Tensor {
        mapVectors { x in x * VectorMath.sigmoid(x) }
    }

    /// Exact GELU, 0.5·x·(1 + erf(x/√2)), as `torch.nn.functional.gelu` (approximate="none").
    public func gelu() -> Tensor {
        mapVectors(SIMDMath.gelu)
    }

    /// Tanh-approximated GELU, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as
    /// `torch.nn.functional.gelu(x, approximate="tanh")`.
    public func geluTanh() -> Tensor {
        mapVectors { x in 0.5 * x * (1 + VectorMath.tanh(0.797_884_56 * (x + 0.044_715 * x * x * x))) }
    }

    /// x · sigmoid(1.702·x), the GELU approximation used by OpenAI CLIP (`quick_gelu`).
    public func quickGELU() -> Tensor {
        mapVectors { x in x * VectorMath.sigmoid(1.702 * x) }
    }

    /// GEGLU: splits the last dimension in half into (hidden, gate) and returns hidden · gelu(gate),
    /// as diffusers `GEGLU` (`hidden, gate = proj(x).chunk(2, dim=-1)`) and LDM's `GEGLU`.
    /// `[..., 2D] -> [..., D]`; fuses the chunk, the GELU and the product into one pass.
    public func geglu() -> Tensor {
        precondition(rank >= 1 && shape[rank - 1] % 2 == 0, "geglu: last dimension of \(shape) must be even")
        let width = shape[rank - 1] / 2
        let rows = count / Swift.max(1, 2 * width)
        var outShape = shape
        outShape[rank - 1] = width
        let level = CPUKernels.active
        return producing(outShape) { x, out in
            Parallel.forEach(rows, minChunk: Swift.max(1, transcendentalMinChunk / Swift.max(1, width))) { range in
                #if arch(x86_64)
                if level >= .avx512f { return AVX512Activations.geglu(x, out, rows: range, width: width) }
                if level >= .avx2 { return AVX2Activations.geglu(x, out, rows: range, width: width) }
                #endif
                SIMDMath.gegluRows(x, out, rows: range, width: width)
            }
        }
    }

    /// Applies a vector function to every 16-element block, in parallel. The tail goes through the
    /// same vector function (zero-padded) so every element gets bit-identical results whatever the
    /// thread split.
    @inline(__always) func mapVectors(_ vector: (SIMD16<Float>) -> SIMD16<Float>) -> Tensor {
        let n = count
        return producing(shape) { x, out in
            Parallel.forEach(n, minChunk: transcendentalMinChunk) { range in
                var i = range.lowerBound
                while i + vectorWidth <= range.upperBound {
                    storeVector(vector(loadVector(x, i)), out, i)
                    i += vectorWidth
                }
                if i < range.upperBound {
                    let tail = range.upperBound - i
                    var v = SIMD16<Float>(repeating: 0)
                    for j in 0..<tail { v[j] = x[i + j] }
                    let r = vector(v)
                    for j in 0..<tail { out[i + j] = r[j] }
                }
            }
        }
    }

    /// Applies a scalar function to every element, in parallel.
    @inline(__always) func mapScalars(_ f: (Float) -> Float) -> Tensor {
        let n = count
        return producing(shape) { x, out in
            Parallel.forEach(n, minChunk: transcendentalMinChunk) { range in
                for i in range { out[i] = f(x[i]) }
            }
        }
    }
}
