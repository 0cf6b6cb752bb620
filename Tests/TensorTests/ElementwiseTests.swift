import TestSupport
import Testing
@testable import Tensor

@Suite struct ElementwiseTests {
    static let broadcastCases: [([Int], [Int])] = [
        ([2, 3, 4, 5], [2, 3, 4, 5]),
        ([2, 3, 4, 5], [3, 1, 1]),
        ([2, 3, 4, 5], [5]),
        ([2, 3, 4, 5], [1]),
        ([1], [2, 3, 4, 5]),
        ([2, 3, 17, 19], [2, 3, 1, 1]),  // [B, C, H, W] + [B, C, 1, 1], odd spatial sizes
        ([4, 1, 6], [1, 5, 1]),  // both sides broadcast
        ([37], [37]),
        ([3, 1], [1, 1]),
    ]

    @Test(arguments: broadcastCases)
    func broadcastingArithmeticMatchesReference(_ shapes: ([Int], [Int])) {
        let a = pseudoRandomTensor(shapes.0, seed: 1, scale: 3)
        let b = pseudoRandomTensor(shapes.1, seed: 2, scale: 3)
        let label = "\(shapes.0) op \(shapes.1)"
        #expect(expectElementwise(a + b, Reference.broadcast(a, b, +), "add \(label)"))
        #expect(expectElementwise(a - b, Reference.broadcast(a, b, -), "sub \(label)"))
        #expect(expectElementwise(a * b, Reference.broadcast(a, b, *), "mul \(label)"))
        #expect(expectElementwise(a / b, Reference.broadcast(a, b, /), "div \(label)"))
    }

    @Test func largeBroadcastAddSplitsAcrossThreadsCorrectly() {
        // Big enough that the row loop is split across workers with the odometer walk.
        let x = pseudoRandomTensor([2, 320, 33, 35], seed: 3)
        let bias = pseudoRandomTensor([2, 320, 1, 1], seed: 4)
        #expect(expectElementwise(x + bias, Reference.broadcast(x, bias, +), "add large [B,C,1,1]"))
        let row = pseudoRandomTensor([35], seed: 5)
        #expect(expectElementwise(x * row, Reference.broadcast(x, row, *), "mul large [W]"))
    }

    @Test func inPlaceOperatorsMatchOutOfPlaceAndKeepCopiesIntact() {
        let a = pseudoRandomTensor([2, 3, 4, 5], seed: 6)
        let b = pseudoRandomTensor([3, 1, 5], seed: 7)
        var c = a
        c += b
        #expect(c.scalars == (a + b).scalars)
        #expect(a.scalars == pseudoRandomTensor([2, 3, 4, 5], seed: 6).scalars)  // copy-on-write
        c -= b
        var d = a
        d *= b
        #expect(d.scalars == (a * b).scalars)
        var e = a
        e += e  // aliasing: reads the old storage
        #expect(e.scalars == (a * 2).scalars)
    }

    @Test func scalarOperationsMatchReference() {
        let x = pseudoRandomTensor([3, 7, 11], seed: 8, scale: 5)
        #expect(expectElementwise(x * 0.3, Reference.map(x) { $0 * Double(Float(0.3)) }, "scale"))
        #expect(expectElementwise(0.3 * x, Reference.map(x) { $0 * Double(Float(0.3)) }, "scale left"))
        #expect(expectElementwise(x / 7, Reference.map(x) { $0 / 7 }, "div scalar"))
        #expect(expectElementwise(x + 2, Reference.map(x) { $0 + 2 }, "add scalar"))
        #expect(expectElementwise(x - 2, Reference.map(x) { $0 - 2 }, "sub scalar"))
        #expect((-x).scalars == x.scalars.map { -$0 })
        #expect(x.clamped(min: -1, max: 1).scalars == x.scalars.map { min(max($0, -1), 1) })
        var y = x
        y *= 0.5
        #expect(y.scalars == x.scalars.map { $0 * 0.5 })
    }

    @Test func weightedSumAndScaledAddMatchReference() {
        let shape = [2, 4, 13, 9]
        let x = pseudoRandomTensor(shape, seed: 9), d = pseudoRandomTensor(shape, seed: 10)
        let e = pseudoRandomTensor(shape, seed: 11)
        let (w0, w1, w2): (Float, Float, Float) = (0.7, -1.3, 0.25)
        let reference = Tensor(
            shape: shape,
            values: (0..<x.count).map { i in
                Float(Double(w0) * Double(x[flat: i]) + Double(w1) * Double(d[flat: i]) + Double(w2) * Double(e[flat: i]))
            })
        #expect(expectElementwise(Tensor.weightedSum((w0, x), (w1, d), (w2, e)), reference, "weightedSum 3"))
        let scaledAdd = Reference.broadcast(x, d) { $0 + Double(Float(0.4)) * $1 }
        #expect(expectElementwise(x.adding(d, scaledBy: 0.4), scaledAdd, "adding scaledBy"))
        var y = x
        y.add(d, scaledBy: 0.4)
        #expect(y.scalars == x.adding(d, scaledBy: 0.4).scalars)
    }

    @Test func largeWeightedSumIsIdenticalAcrossThreadCounts() {
        let shape = [4, 64, 64, 17]
        let a = pseudoRandomTensor(shape, seed: 12), b = pseudoRandomTensor(shape, seed: 13)
        let results = ThreadCounts.compare { Tensor.weightedSum((0.5, a), (2, b)).scalars }
        #expect(results.0 == results.1)
    }

    @Test func reductionsMatchDoubleReference() {
        let x = pseudoRandomTensor([3, 5, 77, 31], seed: 14, scale: 4)
        let v = x.scalars.map(Double.init)
        let n = Double(v.count)
        let sum = v.reduce(0, +), mean = sum / n
        let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        let relSum = abs(Double(x.sum()) - sum) / max(1, abs(sum))
        report("sum relative", relSum)
        #expect(relSum <= 1e-6)
        #expect(abs(Double(x.mean()) - mean) <= 1e-6)
        #expect(abs(Double(x.standardDeviation()) - variance.squareRoot()) <= 1e-6 * variance.squareRoot())
        #expect(abs(Double(x.meanAbsolute()) - v.reduce(0) { $0 + abs($1) } / n) <= 1e-6)
        #expect(x.min() == x.scalars.min()!)
        #expect(x.max() == x.scalars.max()!)
    }
}

/// Runs `body` with 1 and then 4 workers and returns both results. The count is set for this
/// task only: changing the process-wide one would switch counts under tests running concurrently.
enum ThreadCounts {
    static func compare<R>(_ body: () -> R) -> (R, R) {
        (Parallel.withThreadCount(1, body), Parallel.withThreadCount(4, body))
    }
}
