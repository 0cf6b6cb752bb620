import Foundation

/// diffusers' `FlowMatchEulerDiscreteScheduler` schedules, the defaults of the rectified-flow
/// pipelines (steps sigmas, then 0):
/// - `.shifted(shift)` (SD3, SD3.5: `StableDiffusion3Pipeline`): timesteps evenly spaced from the
///   table's largest to its smallest sigma (times 1000), over 1000, shifted once more:
///   sigma_i = shift(s_i), s_i = linspace(sigma_max, sigma_min, steps). diffusers shifts the table's
///   already-shifted sigma_min a second time; kept, for the same pictures.
/// - `.exponential(mu)` (FLUX: `FluxPipeline`, resolution-dependent): s_i = linspace(1, 1/steps,
///   steps), sigma_i = e^mu / (e^mu + (1/s_i - 1)); `mu(imageTokens:)` is the pipelines' choice.
public struct FlowMatchSchedule: NoiseSchedule {
    public enum Shift: Sendable, Equatable {
        case shifted(Double)
        case exponential(mu: Double)
    }

    public let shift: Shift

    public init(_ shift: Shift) { self.shift = shift }

    /// FLUX's mu for an image of `imageTokens` latent patches (diffusers `calculate_shift`: linear
    /// from 0.5 at 256 tokens to 1.15 at 4096; 1024x1024 is 4096 tokens).
    public static func mu(imageTokens: Int, baseTokens: Int = 256, maxTokens: Int = 4096, baseShift: Double = 0.5, maxShift: Double = 1.15) -> Double {
        let m = (maxShift - baseShift) / Double(maxTokens - baseTokens)
        return Double(imageTokens) * m + (baseShift - m * Double(baseTokens))
    }

    public func sigmas(steps: Int, table: SigmaTable) -> [Float] {
        precondition(steps >= 1, "flow-match schedule: steps \(steps)")
        func linspace(_ a: Double, _ b: Double) -> [Double] {
            steps == 1 ? [a] : (0..<steps).map { a + (b - a) * Double($0) / Double(steps - 1) }
        }
        let sigmas: [Double]
        switch shift {
        case .shifted(let shift):
            // In float32 as numpy: timesteps = linspace(1000 sigma_max, 1000 sigma_min) / 1000.
            let count = Double(table.sigmas.count)
            let s = linspace(Double(table.sigmaMax) * count, Double(table.sigmaMin) * count).map { Double(Float($0)) / count }
            sigmas = s.map { FlowParameterization.shifted($0, by: shift) }
        case .exponential(let mu):
            sigmas = linspace(1, 1 / Double(steps)).map { exp(mu) / (exp(mu) + (1 / $0 - 1)) }
        }
        return sigmas.map { Float($0) } + [0]
    }
}
