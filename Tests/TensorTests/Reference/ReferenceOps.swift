import Foundation
import Tensor

// Naive reference kernels for the op tests: plain loops over flat indices, computing in Double and
// rounding to Float once at the end. Written for obviousness, not speed.

enum Reference {
    /// Row-major strides of a shape.
    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { s[d] = s[d + 1] * shape[d + 1] }
        return s
    }

    /// Multi-index of a flat index.
    static func index(_ flat: Int, _ shape: [Int]) -> [Int] {
        var rest = flat
        var idx = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            idx[d] = rest % shape[d]
            rest /= shape[d]
        }
        return idx
    }

    /// NumPy broadcasting: the output shape and, per output element, each operand's value.
    static func broadcast(_ a: Tensor, _ b: Tensor, _ f: (Double, Double) -> Double) -> Tensor {
        let rank = max(a.rank, b.rank)
        let sa = Array(repeating: 1, count: rank - a.rank) + a.shape
        let sb = Array(repeating: 1, count: rank - b.rank) + b.shape
        let out = (0..<rank).map { max(sa[$0], sb[$0]) }
        let (av, bv) = (a.scalars, b.scalars)
        let (stA, stB) = (strides(sa), strides(sb))
        let n = Tensor.elementCount(out)
        let values = (0..<n).map { flat -> Float in
            let idx = index(flat, out)
            var ia = 0, ib = 0
            for d in 0..<rank {
                ia += (sa[d] == 1 ? 0 : idx[d]) * stA[d]
                ib += (sb[d] == 1 ? 0 : idx[d]) * stB[d]
            }
            return Float(f(Double(av[ia]), Double(bv[ib])))
        }
        return Tensor(shape: out, values: values)
    }

    static func map(_ x: Tensor, _ f: (Double) -> Double) -> Tensor {
        Tensor(shape: x.shape, values: x.scalars.map { Float(f(Double($0))) })
    }

    static func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }
    static func gelu(_ x: Double) -> Double { 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }
    static func geluTanh(_ x: Double) -> Double {
        0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }
    static func quickGELU(_ x: Double) -> Double { x / (1 + exp(-1.702 * x)) }

    static func geglu(_ x: Tensor) -> Tensor {
        let width = x.shape.last! / 2
        let rows = x.count / (2 * width)
        let v = x.scalars
        var out: [Float] = []
        for r in 0..<rows {
            for j in 0..<width {
                out.append(Float(Double(v[r * 2 * width + j]) * gelu(Double(v[r * 2 * width + width + j]))))
            }
        }
        return Tensor(shape: Array(x.shape.dropLast()) + [width], values: out)
    }

    static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, epsilon: Double, silu applySiLU: Bool) -> Tensor {
        let (n, c) = (x.shape[0], x.shape[1])
        let spatial = x.count / (n * c)
        let perGroup = c / groups * spatial
        let v = x.scalars.map(Double.init)
        var out = [Float](repeating: 0, count: x.count)
        for b in 0..<n {
            for g in 0..<groups {
                let base = (b * groups + g) * perGroup
                let mean = v[base..<(base + perGroup)].reduce(0, +) / Double(perGroup)
                let variance = v[base..<(base + perGroup)].reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(perGroup)
                for i in 0..<perGroup {
                    let ch = g * (c / groups) + i / spatial
                    var y = (v[base + i] - mean) / (variance + epsilon).squareRoot()
                    y = y * Double(weight?[flat: ch] ?? 1) + Double(bias?[flat: ch] ?? 0)
                    out[base + i] = Float(applySiLU ? silu(y) : y)
                }
            }
        }
        return Tensor(shape: x.shape, values: out)
    }

    static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Double) -> Tensor {
        let width = x.shape.last!
        let v = x.scalars.map(Double.init)
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<(x.count / width) {
            let row = v[(r * width)..<((r + 1) * width)]
            let mean = row.reduce(0, +) / Double(width)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
            for j in 0..<width {
                let y = (v[r * width + j] - mean) / (variance + epsilon).squareRoot()
                out[r * width + j] = Float(y * Double(weight?[flat: j] ?? 1) + Double(bias?[flat: j] ?? 0))
            }
        }
        return Tensor(shape: x.shape, values: out)
    }

    static func softmax(_ x: Tensor) -> Tensor {
        let width = x.shape.last!
        let v = x.scalars.map(Double.init)
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<(x.count / width) {
            let row = v[(r * width)..<((r + 1) * width)]
            let m = row.max()!
            let s = row.reduce(0) { $0 + exp($1 - m) }
            for j in 0..<width { out[r * width + j] = Float(exp(v[r * width + j] - m) / s) }
        }
        return Tensor(shape: x.shape, values: out)
    }

    static func upsampleNearest(_ x: Tensor, factor: Int) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var out = Tensor(shape: [n, c, h * factor, w * factor])
        for b in 0..<n {
            for ch in 0..<c {
                for i in 0..<(h * factor) {
                    for j in 0..<(w * factor) { out[b, ch, i, j] = x[b, ch, i / factor, j / factor] }
                }
            }
        }
        return out
    }

    /// Element at output index `idx` is input element at idx placed by axes.
    static func permute(_ x: Tensor, _ axes: [Int]) -> Tensor {
        let outShape = axes.map { x.shape[$0] }
        let inStrides = strides(x.shape)
        let v = x.scalars
        let values = (0..<x.count).map { flat -> Float in
            let idx = index(flat, outShape)
            var src = 0
            for d in 0..<axes.count { src += idx[d] * inStrides[axes[d]] }
            return v[src]
        }
        return Tensor(shape: outShape, values: values)
    }

    static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        var outShape = tensors[0].shape
        outShape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
        let n = Tensor.elementCount(outShape)
        let values = (0..<n).map { flat -> Float in
            var idx = index(flat, outShape)
            for t in tensors {
                if idx[axis] < t.shape[axis] {
                    var src = 0
                    let st = strides(t.shape)
                    for d in 0..<idx.count { src += idx[d] * st[d] }
                    return t[flat: src]
                }
                idx[axis] -= t.shape[axis]
            }
            fatalError("unreachable")
        }
        return Tensor(shape: outShape, values: values)
    }

    static func narrow(_ x: Tensor, axis: Int, start: Int, length: Int) -> Tensor {
        var outShape = x.shape
        outShape[axis] = length
        let st = strides(x.shape)
        let values = (0..<Tensor.elementCount(outShape)).map { flat -> Float in
            var idx = index(flat, outShape)
            idx[axis] += start
            return x[flat: zip(idx, st).reduce(0) { $0 + $1.0 * $1.1 }]
        }
        return Tensor(shape: outShape, values: values)
    }
}
