import TestSupport
import Testing
@testable import Tensor

@Suite struct MatMulTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let batch: [Int], m: Int, k: Int, n: Int
        var testDescription: String { "\(batch)x\(m)x\(k)x\(n)" }
    }

    @Test(arguments: [
        Case(batch: [], m: 1, k: 1, n: 1), Case(batch: [], m: 7, k: 13, n: 5), Case(batch: [], m: 130, k: 67, n: 91),
        Case(batch: [3], m: 33, k: 17, n: 64), Case(batch: [2, 3], m: 5, k: 40, n: 9),
    ])
    func matmulMatchesReference(_ c: Case) {
        let a = pseudoRandomTensor(c.batch + [c.m, c.k], seed: 1)
        let b = pseudoRandomTensor(c.batch + [c.k, c.n], seed: 2)
        let batch = Tensor.elementCount(c.batch)
        let expected = Tensor(
            shape: c.batch + [c.m, c.n],
            values: referenceMatmul(a.scalars, b.scalars, batch: batch, m: c.m, k: c.k, n: c.n))
        let actual = matmul(a, b)
        #expect(nmse(actual, expected) <= 1e-6, "\(describeDifference(actual, expected))")
        #expect(a.matmul(b).scalars == actual.scalars)
    }

    /// `linear(addingInto:)` accumulates x·Wᵀ + b onto a row block of an existing output, for
    /// dense and encoded weights, leaving the other rows alone.
    @Test(arguments: [DType.f32, .f16, .q8_0])
    func linearAddingIntoRowsMatchesSeparateSum(_ dtype: DType) throws {
        let x = pseudoRandomTensor([70, 64], seed: 81)
        let (stored, _) = try encodedWeight(pseudoRandomTensor([40, 64], seed: 82), as: dtype)
        let weight = try WeightMatrix(stored)
        let bias = pseudoRandomTensor([40], seed: 83)
        let start = pseudoRandomTensor([100, 40], seed: 84)
        var y = start
        linear(x, weight: weight, bias: bias, addingInto: &y, rowOffset: 20)
        let product = linear(x, weight: weight, bias: bias).scalars
        let (got, before) = (y.scalars, start.scalars)
        #expect(Array(got[0..<800]) == Array(before[0..<800]) && Array(got[3600...]) == Array(before[3600...]))
        let expected = zip(product, before[800..<3600]).map { $0 + $1 }
        #expect(maxAbsDifference(Array(got[800..<3600]), expected) <= 1e-5)
        #expect(start.scalars == pseudoRandomTensor([100, 40], seed: 84).scalars)  // copy on write
    }

    @Test func transposedOperandsMatchReference() {
        let (batch, m, k, n) = (2, 19, 23, 11)
        let at = pseudoRandomTensor([batch, k, m], seed: 3)  // Aᵀ stored
        let bt = pseudoRandomTensor([batch, n, k], seed: 4)  // Bᵀ stored
        let a = referenceTranspose(at.scalars, batch: batch, rows: k, columns: m)
        let b = referenceTranspose(bt.scalars, batch: batch, rows: n, columns: k)
        let expected = Tensor(shape: [batch, m, n], values: referenceMatmul(a, b, batch: batch, m: m, k: k, n: n))
        let actual = matmul(at, bt, transposeA: true, transposeB: true)
        #expect(nmse(actual, expected) <= 1e-6, "\(describeDifference(actual, expected))")
        let mixed = matmul(Tensor(shape: [batch, m, k], values: a), bt, transposeB: true)
        #expect(nmse(mixed, expected) <= 1e-6, "\(describeDifference(mixed, expected))")
    }

    @Test func sharedOperandBroadcastsOverBatch() {
        let a = pseudoRandomTensor([4, 6, 10], seed: 5)
        let w = pseudoRandomTensor([10, 3], seed: 6)
        let expected = Tensor(
            shape: [4, 6, 3], values: referenceMatmul(a.scalars, w.scalars, batch: 4, m: 6, k: 10, n: 3, shareB: true))
        let actual = matmul(a, w)
        #expect(nmse(actual, expected) <= 1e-6, "\(describeDifference(actual, expected))")
        let left = matmul(w.reshaped(3, 10), pseudoRandomTensor([4, 10, 6], seed: 7))
        #expect(left.shape == [4, 3, 6])
    }

    @Test(arguments: [(1, 1, 1, true), (5, 31, 17, true), (3, 4, 64, false), (200, 96, 150, true)])
    func linearMatchesReference(m: Int, inFeatures: Int, outFeatures: Int, withBias: Bool) {
        let x = pseudoRandomTensor([m, inFeatures], seed: 8)
        let w = pseudoRandomTensor([outFeatures, inFeatures], seed: 9)
        let bias = withBias ? pseudoRandomTensor([outFeatures], seed: 10) : nil
        let expected = referenceLinear(
            x.scalars, w.scalars, bias: bias?.scalars, m: m, inFeatures: inFeatures, outFeatures: outFeatures)
        let actual = linear(x, weight: w, bias: bias)
        #expect(actual.shape == [m, outFeatures])
        #expect(nmse(actual.scalars, expected) <= 1e-6, "\(describeDifference(actual.scalars, expected))")
    }

    @Test func linearKeepsLeadingDimensions() {
        let x = pseudoRandomTensor([2, 3, 8], seed: 11)
        let w = pseudoRandomTensor([5, 8], seed: 12)
        let y = linear(x, weight: w)
        #expect(y.shape == [2, 3, 5])
        let flat = linear(x.reshaped(6, 8), weight: w)
        #expect(y.scalars == flat.scalars)
    }

    /// An f32 weight that sits Float-aligned in its file is multiplied where it lies; one at an
    /// odd offset (a safetensors header may have any length) is copied per tile. Both give the
    /// dense weight's product.
    @Test func f32WeightsInTheirFileAreUsedInPlaceWhenAligned() throws {
        let w = pseudoRandomTensor([40, 64], seed: 85)
        let x = pseudoRandomTensor([70, 64], seed: 86)
        let bytes = w.scalars.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        // The weight after a 4-byte and after a 6-byte header.
        func stored(at offset: Int) -> StoredTensor {
            let file = MappedFile(name: "offset\(offset).safetensors", data: [UInt8](repeating: 0, count: offset) + bytes)
            let view = UnsafeRawBufferPointer(rebasing: file.bytes[offset...])
            return StoredTensor(name: "w@\(offset)", dtype: .f32, shape: w.shape, bytes: view, file: file)
        }
        let aligned = stored(at: 4), unaligned = stored(at: 6)
        #expect(aligned.alignedFloat32Elements.map(UnsafeRawPointer.init) == aligned.file.bytes.baseAddress.map { $0 + 4 })
        #expect(unaligned.alignedFloat32Elements == nil)
        let expected = linear(x, weight: WeightMatrix(w))
        for s in [aligned, unaligned] {
            let actual = linear(x, weight: try WeightMatrix(s))
            #expect(nmse(actual, expected) <= 1e-12, "\(s.name): \(describeDifference(actual, expected))")
        }
    }

    /// f16/bf16/q8_0 weights decoded per tile must give the product with the decoded (rounded)
    /// weights. 2100 × 2048 spans two decode tiles of `WeightMatrix.decodeTileFloats`.
    @Test(arguments: [DType.f16, .bf16, .q8_0, .f32], [(7, 64, 40), (3, 2048, 2100)])
    func linearWithEncodedWeightsMatchesDecodedReference(dtype: DType, shape: (Int, Int, Int)) throws {
        let (m, inFeatures, outFeatures) = shape
        let x = pseudoRandomTensor([m, inFeatures], seed: 13)
        let (stored, decoded) = try encodedWeight(pseudoRandomTensor([outFeatures, inFeatures], seed: 14), as: dtype)
        let bias = pseudoRandomTensor([outFeatures], seed: 15)
        let weight = try WeightMatrix(stored)
        #expect(weight.dtype == dtype && weight.rows == outFeatures && weight.columns == inFeatures)
        let expected = referenceLinear(
            x.scalars, decoded.scalars, bias: bias.scalars, m: m, inFeatures: inFeatures, outFeatures: outFeatures)
        for (precision, tolerance) in [(ComputePrecision.float32, 1e-6), (.bfloat16, 3e-5)] {
            let actual = WeightMatrix.withEncodedWeightPrecision(precision) { linear(x, weight: weight, bias: bias) }
            #expect(
                nmse(actual.scalars, expected) <= tolerance,
                "\(dtype) \(precision): \(describeDifference(actual.scalars, expected))")
        }
    }

    /// Every GGUF block type, as the Python gguf package wrote it (Fixtures/gguf_types.gguf), works
    /// as a linear weight without being decoded whole.
    @Test(arguments: ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"])
    func linearWithGGUFQuantizedWeightsMatchesDecodedReference(name: String) throws {
        let file = try GGUFFile(path: fixtureURL("gguf_types.gguf").path)
        let stored = try #require(file.tensors[name])
        let (outFeatures, inFeatures) = (stored.shape[0], stored.shape[1])
        let decoded = try stored.toTensor()
        let x = pseudoRandomTensor([5, inFeatures], seed: 21)
        let expected = referenceLinear(
            x.scalars, decoded.scalars, bias: nil, m: 5, inFeatures: inFeatures, outFeatures: outFeatures)
        let weight = try WeightMatrix(stored)
        let actual = WeightMatrix.withEncodedWeightPrecision(.float32) { linear(x, weight: weight) }
        #expect(nmse(actual.scalars, expected) <= 1e-6, "\(name): \(describeDifference(actual.scalars, expected))")
    }

    @Test func resultsAgreeAcrossThreadCounts() throws {
        let a = pseudoRandomTensor([3, 150, 90], seed: 16)
        let b = pseudoRandomTensor([3, 90, 170], seed: 17)
        let (stored, _) = try encodedWeight(pseudoRandomTensor([170, 90], seed: 18), as: .f16)
        let weight = try WeightMatrix(stored)
        let x = a.reshaped(450, 90)
        let (m1, l1) = withThreads(1) { (matmul(a, b), linear(x, weight: weight)) }
        let (m4, l4) = withThreads(4) { (matmul(a, b), linear(x, weight: weight)) }
        #expect(nmse(m4, m1) <= 1e-6, "\(describeDifference(m4, m1))")
        #expect(nmse(l4, l1) <= 1e-6, "\(describeDifference(l4, l1))")
    }
}
