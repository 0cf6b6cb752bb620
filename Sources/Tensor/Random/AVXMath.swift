/// Scalar transcriptions of `log256_ps` and `sincos256_ps` from torch's
/// aten/src/ATen/native/cpu/avx_mathfun.h (Cephes polynomials, after Pommier's sse_mathfun),
/// which torch's AVX2 `randn` kernel uses instead of libm.
///
/// torch compiles that header with FMA enabled and GCC contracts its multiply-then-add pairs
/// into fused operations; the `addingProduct` calls below are exactly the pairs it fuses (found
/// by matching every value of the torch CPU goldens bit for bit; unfused, ~0.1% differ by 1 ulp).
/// The Cephes constants are double literals stored as float, hence `Float(... as Double)`.
enum AVXMath {
    static let minNormal = Float(bitPattern: 0x0080_0000)
    static let sqrtHalf = Float(0.707106781186547524 as Double)
    static let logP: [Float] = [
        7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
        -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1,
    ].map { (value: Double) in Float(value) }
    static let logQ1 = Float(-2.12194440e-4 as Double)
    static let logQ2 = Float(0.693359375 as Double)

    static let fourOverPi = Float(1.27323954473516 as Double)
    static let minusDP1 = Float(-0.78515625 as Double)
    static let minusDP2 = Float(-2.4187564849853515625e-4 as Double)
    static let minusDP3 = Float(-3.77489497744594108e-8 as Double)
    static let sinP0 = Float(-1.9515295891E-4 as Double)
    static let sinP1 = Float(8.3321608736E-3 as Double)
    static let sinP2 = Float(-1.6666654611E-1 as Double)
    static let cosP0 = Float(2.443315711809948E-005 as Double)
    static let cosP1 = Float(-1.388731625493765E-003 as Double)
    static let cosP2 = Float(4.166664568298827E-002 as Double)

    /// `log256_ps` for one lane; the argument is positive (torch passes 1 - u, u in [0, 1)).
    @inline(__always)
    static func log(_ argument: Float) -> Float {
        // Denormals are clamped to the smallest normal, as the original does.
        let bits = max(argument, minNormal).bitPattern
        // Exponent and mantissa in [0.5, 1): argument = m * 2^e.
        var e = Float(Int32(bitPattern: bits >> 23) - 0x7F) + 1
        var x = Float(bitPattern: (bits & ~0x7F80_0000) | 0x3F00_0000)
        // Below sqrt(1/2) use 2m - 1 and e - 1, keeping the polynomial argument small.
        let below = x < sqrtHalf
        let tmp: Float = below ? x : 0
        x = x - 1
        e = e - (below ? 1 : 0)
        x = x + tmp
        let z = x * x
        var y = logP[0]
        for k in 1..<logP.count { y = logP[k].addingProduct(y, x) }
        y = y * x
        y = (e * logQ1).addingProduct(y, z)
        y = y - z * 0.5  // z * 0.5 is exact, so fused or not gives the same
        return (x + y).addingProduct(e, logQ2)
    }

    /// `sincos256_ps` for one lane: (sine, cosine). Exact transcription for |argument| < 2^31,
    /// the range of the original's int32 conversion; torch passes [0, 2pi).
    @inline(__always)
    static func sinCos(_ argument: Float) -> (sin: Float, cos: Float) {
        var x = abs(argument)
        // Octant j, rounded up to even, and the reduced argument x - j pi/4 in three parts.
        var j = Int32(x * fourOverPi)
        j = (j + 1) & ~1
        let y = Float(j)
        let flipSin = (argument.sign == .minus) != ((j & 4) != 0)
        let flipCos = (~(j - 2) & 4) != 0
        let sinPolynomialForSin = (j & 2) == 0
        x = x.addingProduct(y, minusDP1)
        x = x.addingProduct(y, minusDP2)
        x = x.addingProduct(y, minusDP3)
        let z = x * x

        var cosPoly = cosP0
        cosPoly = cosP1.addingProduct(cosPoly, z)
        cosPoly = cosP2.addingProduct(cosPoly, z)
        cosPoly = cosPoly * z
        cosPoly = (-(z * 0.5)).addingProduct(cosPoly, z)
        cosPoly = cosPoly + 1

        var sinPoly = sinP0
        sinPoly = sinP1.addingProduct(sinPoly, z)
        sinPoly = sinP2.addingProduct(sinPoly, z)
        sinPoly = sinPoly * z
        sinPoly = x.addingProduct(sinPoly, x)

        // The original selects with masks and adds the masked-out lane (+0), hence the `+ 0`.
        var sine = (sinPolynomialForSin ? sinPoly : cosPoly) + 0
        var cosine = (sinPolynomialForSin ? cosPoly : sinPoly) + 0
        if flipSin { sine = -sine }
        if flipCos { cosine = -cosine }
        return (sine, cosine)
    }
}
