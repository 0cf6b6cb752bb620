import Foundation
import Tensor

// Naive references for the GEMM-based ops: straightforward loops, accumulating in Double.

/// c[b, m, n] = sum_k a[b, m, k] · b[b, k, n]; a batch of 1 for an operand broadcasts it.
func referenceMatmul(
    _ a: [Float], _ b: [Float], batch: Int, m: Int, k: Int, n: Int, shareA: Bool = false, shareB: Bool = false
) -> [Float] {
    var c = [Float](repeating: 0, count: batch * m * n)
    for t in 0..<batch {
        let ao = shareA ? 0 : t * m * k, bo = shareB ? 0 : t * k * n
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k { s += Double(a[ao + i * k + p]) * Double(b[bo + p * n + j]) }
                c[t * m * n + i * n + j] = Float(s)
            }
        }
    }
    return c
}

/// Transposes the last two dimensions of a [batch, r, c] array.
func referenceTranspose(_ a: [Float], batch: Int, rows: Int, columns: Int) -> [Float] {
    var t = [Float](repeating: 0, count: a.count)
    for b in 0..<batch {
        for i in 0..<rows { for j in 0..<columns { t[b * rows * columns + j * rows + i] = a[b * rows * columns + i * columns + j] } }
    }
    return t
}

/// y[m, out] = x[m, in] · w[out, in]ᵀ + bias.
func referenceLinear(_ x: [Float], _ w: [Float], bias: [Float]?, m: Int, inFeatures: Int, outFeatures: Int) -> [Float] {
    var y = [Float](repeating: 0, count: m * outFeatures)
    for i in 0..<m {
        for o in 0..<outFeatures {
            var s = Double(bias?[o] ?? 0)
            for p in 0..<inFeatures { s += Double(x[i * inFeatures + p]) * Double(w[o * inFeatures + p]) }
            y[i * outFeatures + o] = Float(s)
        }
    }
    return y
}

/// PyTorch conv2d (groups 1, dilation 1) with per-side zero padding; returns values and [Ho, Wo].
func referenceConv2d(
    _ x: Tensor, _ w: Tensor, bias: Tensor?, strideY: Int, strideX: Int, top: Int, bottom: Int, left: Int, right: Int
) -> Tensor {
    let (batch, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let ho = (h + top + bottom - kh) / strideY + 1, wo = (wd + left + right - kw) / strideX + 1
    let xs = x.scalars, ws = w.scalars, bs = bias?.scalars
    var y = [Float](repeating: 0, count: batch * cout * ho * wo)
    for b in 0..<batch {
        for co in 0..<cout {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var s = Double(bs?[co] ?? 0)
                    for ci in 0..<cin {
                        for ky in 0..<kh {
                            let iy = oy * strideY + ky - top
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<kw {
                                let ix = ox * strideX + kx - left
                                if ix < 0 || ix >= wd { continue }
                                s += Double(xs[((b * cin + ci) * h + iy) * wd + ix])
                                    * Double(ws[((co * cin + ci) * kh + ky) * kw + kx])
                            }
                        }
                    }
                    y[((b * cout + co) * ho + oy) * wo + ox] = Float(s)
                }
            }
        }
    }
    return Tensor(shape: [batch, cout, ho, wo], values: y)
}

/// softmax(q kᵀ · scale) v per head for q [B, Lq, H·d], k [B, Lk, H·d], v [B, Lk, H·dv].
func referenceAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, heads: Int, scale: Double? = nil) -> Tensor {
    let (batch, lq, lk) = (q.shape[0], q.shape[1], k.shape[1])
    let d = q.shape[2] / heads, dv = v.shape[2] / heads
    let s = scale ?? 1 / Double(d).squareRoot()
    let qs = q.scalars, ks = k.scalars, vs = v.scalars
    var out = [Float](repeating: 0, count: batch * lq * heads * dv)
    var weights = [Double](repeating: 0, count: lk)
    for b in 0..<batch {
        for h in 0..<heads {
            for i in 0..<lq {
                var maxScore = -Double.infinity
                for j in 0..<lk {
                    var dot = 0.0
                    for p in 0..<d {
                        dot += Double(qs[(b * lq + i) * heads * d + h * d + p]) * Double(ks[(b * lk + j) * heads * d + h * d + p])
                    }
                    weights[j] = dot * s
                    maxScore = max(maxScore, weights[j])
                }
                var total = 0.0
                for j in 0..<lk {
                    weights[j] = Foundation.exp(weights[j] - maxScore)
                    total += weights[j]
                }
                for p in 0..<dv {
                    var acc = 0.0
                    for j in 0..<lk { acc += weights[j] * Double(vs[(b * lk + j) * heads * dv + h * dv + p]) }
                    out[(b * lq + i) * heads * dv + h * dv + p] = Float(acc / total)
                }
            }
        }
    }
    return Tensor(shape: [batch, lq, heads * dv], values: out)
}

/// [B, L, H, d] <-> [B, H, L, d] (the permute the 3-D attention layout avoids).
func referenceSwapSequenceAndHeads(_ t: Tensor, heads: Int) -> Tensor {
    let (batch, l, width) = (t.shape[0], t.shape[1], t.shape[2])
    let d = width / heads
    let s = t.scalars
    var out = [Float](repeating: 0, count: s.count)
    for b in 0..<batch {
        for i in 0..<l { for h in 0..<heads { for p in 0..<d { out[((b * heads + h) * l + i) * d + p] = s[(b * l + i) * width + h * d + p] } } }
    }
    return Tensor(shape: [batch, heads, l, d], values: out)
}
