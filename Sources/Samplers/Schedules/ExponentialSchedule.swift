import Foundation

/// Sigmas evenly spaced in log-sigma between the table's ends.
///
/// Matches k-diffusion `get_sigmas_exponential` and stable-diffusion.cpp `exponential`; one step
/// gives [sigma_max, 0].
public struct ExponentialSchedule: NoiseSchedule {
    public init() {}

    public func sigmas(steps: Int, table: SigmaTable) -> [Float] {
        precondition(steps >= 1, "exponential schedule: steps \(steps)")
        let logMax = log(Double(table.sigmaMax)), logMin = log(Double(table.sigmaMin))
        var result = (0..<steps).map { i -> Float in
            let ramp = steps == 1 ? 0 : Double(i) / Double(steps - 1)
            return Float(exp(logMax + ramp * (logMin - logMax)))
        }
        result.append(0)
        return result
    }
}
