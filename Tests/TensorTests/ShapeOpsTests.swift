import TestSupport
import Testing
@testable import Tensor

@Suite struct ShapeOpsTests {
    @Test(arguments: [[1, 2, 3, 5], [2, 3, 8, 17], [1, 1, 1, 1]])
    func nearestUpsampleMatchesReference(_ shape: [Int]) {
        let x = pseudoRandomTensor(shape, seed: 60)
        #expect(x.upsampledNearest().scalars == Reference.upsampleNearest(x, factor: 2).scalars)
        #expect(x.upsampledNearest().shape == [shape[0], shape[1], shape[2] * 2, shape[3] * 2])
        #expect(x.upsampledNearest(factor: 3).scalars == Reference.upsampleNearest(x, factor: 3).scalars)
    }

    @Test(arguments: [0, 1, 3, -1])
    func concatMatchesReference(_ axis: Int) {
        let base = [2, 3, 4, 5]
        let a = normalized(axis, 4)
        let parts = [2, 1, 3].enumerated().map { i, size -> Tensor in
            var shape = base
            shape[a] = size
            return pseudoRandomTensor(shape, seed: 61 + UInt64(i))
        }
        let actual = Tensor.concat(parts, axis: axis)
        let expected = Reference.concat(parts, axis: a)
        #expect(actual.shape == expected.shape)
        #expect(actual.scalars == expected.scalars)
    }

    @Test func concatOfSkipConnectionAlongChannels() {
        let h = pseudoRandomTensor([2, 64, 16, 16], seed: 64), skip = pseudoRandomTensor([2, 32, 16, 16], seed: 65)
        let joined = Tensor.concat(h, skip, axis: 1)  // [2, 96, 16, 16]
        #expect(joined.shape == [2, 96, 16, 16])
        #expect(joined.scalars == Reference.concat([h, skip], axis: 1).scalars)
    }

    static let permutations: [([Int], [Int])] = [
        ([2, 3, 4, 5], [0, 2, 3, 1]),  // NCHW -> NHWC
        ([2, 3, 4, 5], [0, 3, 1, 2]),  // NHWC -> NCHW
        ([2, 3, 4, 5], [3, 2, 1, 0]),
        ([2, 3, 4, 5], [1, 0, 2, 3]),  // inner block stays contiguous
        ([2, 1, 4, 1], [3, 2, 1, 0]),  // size-1 dims only: no data movement
        ([2, 37, 45], [0, 2, 1]),  // [B, C, H·W] -> [B, H·W, C], sizes not multiples of the tile
        ([2, 5, 3, 7], [0, 2, 1, 3]),  // attention heads: [B, T, H, D] -> [B, H, T, D]
        ([70, 33], [1, 0]),
    ]

    @Test(arguments: permutations)
    func permuteMatchesReferenceAndRoundTrips(_ c: ([Int], [Int])) {
        let x = pseudoRandomTensor(c.0, seed: 66)
        let y = x.permuted(c.1)
        #expect(y.shape == c.1.map { c.0[$0] })
        #expect(y.scalars == Reference.permute(x, c.1).scalars)
        var inverse = [Int](repeating: 0, count: c.1.count)
        for (i, a) in c.1.enumerated() { inverse[a] = i }
        #expect(y.permuted(inverse).scalars == x.scalars)
    }

    @Test func transposeForms() {
        let m = pseudoRandomTensor([7, 19], seed: 67)
        #expect(m.transposed().shape == [19, 7])
        #expect(m.transposed()[3, 5] == m[5, 3])
        let x = pseudoRandomTensor([2, 3, 4], seed: 68)
        #expect(x.transposed(1, -1).scalars == Reference.permute(x, [0, 2, 1]).scalars)
    }

    @Test func largePermuteIsIdenticalAcrossThreadCounts() {
        let x = pseudoRandomTensor([2, 320, 24, 40], seed: 69)
        let r = ThreadCounts.compare {
            [x.permuted(0, 2, 3, 1), x.reshaped(2, 320, 960).permuted(0, 2, 1), x.upsampledNearest(),
             Tensor.concat([x, x], axis: 1)].map(\.scalars)
        }
        #expect(r.0 == r.1)
        #expect(r.0[1] == Reference.permute(x.reshaped(2, 320, 960), [0, 2, 1]).scalars)
    }

    @Test func narrowAndChunkMatchReference() {
        let x = pseudoRandomTensor([3, 7, 5], seed: 70)
        for axis in 0..<3 {
            let size = x.shape[axis]
            let y = x.narrowed(axis: axis, start: 1, length: size - 2)
            #expect(y.scalars == Reference.narrow(x, axis: axis, start: 1, length: size - 2).scalars)
        }
        // torch.chunk semantics: 7 into 3 -> 3, 3, 1; concat restores the input.
        let pieces = x.chunked(3, axis: 1)
        #expect(pieces.map { $0.shape[1] } == [3, 3, 1])
        #expect(Tensor.concat(pieces, axis: 1).scalars == x.scalars)
        #expect(x.chunked(2, axis: -1).map { $0.shape } == [[3, 7, 3], [3, 7, 2]])
    }

    @Test func embeddingGathersRows() {
        let table = pseudoRandomTensor([11, 6], seed: 71)
        let ids = [3, 0, 10, 3]
        let y = table.rows(at: ids)
        #expect(y.shape == [4, 6])
        for (i, id) in ids.enumerated() {
            for j in 0..<6 { #expect(y[i, j] == table[id, j]) }
        }
        #expect(table.rows(at: []).shape == [0, 6])
    }

    private func normalized(_ axis: Int, _ rank: Int) -> Int { axis < 0 ? axis + rank : axis }
}
