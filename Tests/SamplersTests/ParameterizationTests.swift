import Samplers
import Tensor
import Testing

/// The eps and v parameterizations against their definitions: for a network that predicts the true
/// target, the denoiser returns x0 exactly (up to float rounding). Eps: x = x0 + sigma n, target n.
/// v (Salimans & Ho, in VE space as k-diffusion's `DiscreteVDDPMDenoiser` uses it): target
/// v = alpha n - sigma_vp x0 with alpha = 1 / sqrt(sigma^2 + 1), sigma_vp = sigma alpha.
@Suite struct ParameterizationTests {
    /// A network that knows x0 and the noise, records what it was given and returns the target.
    final class Oracle: NoisePredictor {
        let x0: Tensor, noise: Tensor
        let target: (Float) -> Tensor
        var inputs: [(x: Tensor, timestep: Float)] = []

        init(x0: Tensor, noise: Tensor, target: @escaping (Float) -> Tensor) {
            self.x0 = x0
            self.noise = noise
            self.target = target
        }

        func predict(_ x: Tensor, timestep: Float) throws -> Tensor {
            inputs.append((x, timestep))
            return target(timestep)
        }
    }

    let x0 = Tensor(shape: [1, 2, 2, 2], values: [0.5, -1, 0.25, 2, -0.75, 1.5, 0, -2])
    let noise = Tensor(shape: [1, 2, 2, 2], values: [1, 0.3, -1.2, 0.7, -0.4, 2.1, -0.9, 0.05])
    static let sigmas: [Float] = [0.03, 0.5, 1, 3.7, 14.6]

    func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? .infinity
    }

    @Test(arguments: sigmas)
    func epsilonRecoversX0AndFeedsTheScaledInputAtTheTablesTimestep(sigma: Float) throws {
        let table = SigmaTable.stableDiffusion
        let oracle = Oracle(x0: x0, noise: noise) { [noise] _ in noise }
        let x = x0 + noise.scaled(by: sigma)
        let denoised = try EpsilonPrediction(oracle, table: table).denoise(x, sigma: sigma)
        #expect(maxDifference(denoised, x0) <= 4e-6 * max(1, sigma))
        let input = try #require(oracle.inputs.first)
        #expect(input.timestep == table.timestep(forSigma: sigma))
        let cIn = 1 / (sigma * sigma + 1).squareRoot()
        #expect(maxDifference(input.x, x.scaled(by: cIn)) <= 1e-6)
    }

    @Test(arguments: sigmas)
    func vRecoversX0FromTheTrueVelocity(sigma: Float) throws {
        let alpha = 1 / (Double(sigma) * Double(sigma) + 1).squareRoot()
        let v = Tensor.weightedSum((Float(alpha), noise), (Float(-Double(sigma) * alpha), x0))
        let oracle = Oracle(x0: x0, noise: noise) { _ in v }
        let x = x0 + noise.scaled(by: sigma)
        let denoised = try VPrediction(oracle).denoise(x, sigma: sigma)
        #expect(maxDifference(denoised, x0) <= 4e-6 * max(1, sigma), "sigma \(sigma)")
        #expect(maxDifference(try #require(oracle.inputs.first).x, x.scaled(by: Float(alpha))) <= 1e-6)
    }

    @Test func scalingsAreKDiffusionsGetScalings() {
        for sigma in Self.sigmas {
            let s = Double(sigma), root = (s * s + 1).squareRoot()
            let eps = EpsilonParameterization().scalings(sigma: sigma)
            #expect(eps == DenoiserScalings(cSkip: 1, cOut: -sigma, cIn: Float(1 / root)))
            let v = VParameterization().scalings(sigma: sigma)
            #expect(abs(Double(v.cSkip) - 1 / (s * s + 1)) <= 1e-7 && abs(Double(v.cOut) + s / root) <= 1e-6 * s)
            #expect(v.cIn == eps.cIn)
        }
        // The parameterization owns its table: schedules are drawn from it.
        let table = SigmaTable(scaledLinearFrom: 0.001, to: 0.02, timesteps: 500)
        #expect(VParameterization(table: table).table == table && EpsilonParameterization().table == .stableDiffusion)
    }
}
