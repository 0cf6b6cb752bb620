import Testing
@testable import Tensor

@Suite struct TensorTests {
    @Test func reshapeSharesElementsAndInfersOneDimension() {
        let t = Tensor(shape: [2, 3, 4], values: (0..<24).map(Float.init))
        let r = t.reshaped(6, -1)
        #expect(r.shape == [6, 4])
        #expect(r.scalars == t.scalars)
        #expect(r[5, 3] == 23)
        #expect(t[1, 2, 3] == 23)
    }

    @Test func mutationCopiesSharedStorage() {
        let a = Tensor(shape: [4], values: [1, 2, 3, 4])
        var b = a
        b[flat: 0] = 9
        #expect(a.scalars == [1, 2, 3, 4])
        #expect(b.scalars == [9, 2, 3, 4])
    }

    @Test func halfConversionIsExactForEveryBitPattern() {
        for bits in 0...UInt16.max {
            let f = Dequantization.halfToFloat(bits)
            let expected = Float(Float16(bitPattern: bits))
            if f.isNaN {
                #expect(expected.isNaN)
            } else {
                #expect(f.bitPattern == expected.bitPattern, "half \(bits)")
                // Every finite half survives the round trip.
                #expect(Dequantization.floatToHalf(f) == bits, "half \(bits) round trip")
            }
        }
    }

    @Test func floatToHalfRoundsToNearestEven() {
        for v: Float in [0.1, -3.14159, 65504, 70000, 1e-7, 6.1e-5, 2.5e-8, -0, 1.0009765625 + 0x1p-11] {
            #expect(Dequantization.floatToHalf(v) == Float16(v).bitPattern, "\(v)")
        }
    }

    @Test func bfloat16RoundsToNearestEven() {
        #expect(Dequantization.floatToBFloat16(1.0) == 0x3F80)
        #expect(Dequantization.floatToBFloat16(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie, even stays
        #expect(Dequantization.floatToBFloat16(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie, odd rounds up
        #expect(Dequantization.floatToBFloat16(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
    }
}
