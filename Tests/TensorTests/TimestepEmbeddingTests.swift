import Foundation
import TestSupport
import Testing
@testable import Tensor

@Suite struct TimestepEmbeddingTests {
    /// The formula written out, with the argument rounded to Float in PyTorch's order (see the doc
    /// comment of `timestepEmbedding`) and sin/cos in Double.
    static func formula(_ t: [Float], dimension: Int, flip: Bool, shift: Float, scale: Float) -> Tensor {
        let half = dimension / 2
        var out = Tensor(shape: [t.count, dimension])
        for (n, time) in t.enumerated() {
            for j in 0..<half {
                let exponent = Float(-log(10000.0)) * Float(j) / (Float(half) - shift)
                let arg = Double(scale * (time * Float(exp(Double(exponent)))))
                out[n, flip ? half + j : j] = Float(sin(arg))
                out[n, flip ? j : half + j] = Float(cos(arg))
            }
        }
        return out
    }

    static let timesteps: [Float] = [0, 1, 10, 250.5, 999]

    @Test(arguments: [(32, true, Float(0), Float(1)), (32, false, 1, 1), (7, true, 0, 2), (320, true, 0, 1)])
    func matchesFormula(_ c: (Int, Bool, Float, Float)) {
        let actual = Tensor.timestepEmbedding(
            Self.timesteps, dimension: c.0, flipSinToCos: c.1, downscaleFreqShift: c.2, scale: c.3)
        let expected = Self.formula(Self.timesteps, dimension: c.0, flip: c.1, shift: c.2, scale: c.3)
        #expect(actual.shape == [Self.timesteps.count, c.0])
        #expect(expectElementwise(actual, expected, "timestep formula \(c)"), "\(describeDifference(actual, expected))")
    }

    @Test func defaultsAreLDMCosThenSin() {
        // LDM timestep_embedding(t, 4): freqs = exp(-ln(10000)·[0, 1]/2) = [1, 0.01]; [cos | sin].
        let e = Tensor.timestepEmbedding([3], dimension: 4)
        let expected: [Double] = [cos(3), cos(0.03), sin(3), sin(0.03)]
        for j in 0..<4 { #expect(abs(Double(e[0, j]) - expected[j]) <= 1e-7) }
    }

    struct Golden: Decodable {
        struct Case: Decodable {
            let dimension: Int
            let flip_sin_to_cos: Bool
            let downscale_freq_shift: Float
            let scale: Float
            let timesteps: [Float]
            let shape: [Int]
            let values: [Float]
        }
        let cases: [Case]
    }

    /// Golden from diffusers 0.42.1 / torch 2.15.0 `get_timestep_embedding`; regenerate with
    /// `python Tests/Golden/generate_timestep_embedding.py`.
    @Test func matchesDiffusersGolden() throws {
        let data = try Data(contentsOf: fixtureURL("timestep_embedding.json"))
        let golden = try JSONDecoder().decode(Golden.self, from: data)
        #expect(golden.cases.count == 3)
        for c in golden.cases {
            let actual = Tensor.timestepEmbedding(
                c.timesteps, dimension: c.dimension, flipSinToCos: c.flip_sin_to_cos,
                downscaleFreqShift: c.downscale_freq_shift, scale: c.scale)
            let expected = Tensor(shape: c.shape, values: c.values)
            #expect(expectElementwise(actual, expected, "timestep golden dim \(c.dimension) flip \(c.flip_sin_to_cos)"),
                "\(describeDifference(actual, expected))")
        }
    }
}
