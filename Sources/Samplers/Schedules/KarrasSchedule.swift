import Foundation

/// Karras et al. 2022, eq. 5: sigmas evenly spaced in sigma^(1/rho) between the table's ends.
///
/// Matches k-diffusion `get_sigmas_karras` and stable-diffusion.cpp `karras`; one step gives
/// [sigma_max, 0] (stable-diffusion.cpp divides 0 by 0 there).
public struct KarrasSchedule: NoiseSchedule {
    /// The spacing exponent (7 in the paper).
    public let rho: Double

    public init(rho: Double = 7) { self.rho = rho }

    public func sigmas(steps: Int, table: SigmaTable) -> [Float] {
        precondition(steps >= 1, "karras schedule: steps \(steps)")
        let minInv = pow(max(Double(table.sigmaMin), 1e-6), 1 / rho)
        let maxInv = pow(Double(table.sigmaMax), 1 / rho)
        var result = (0..<steps).map { i -> Float in
            let ramp = steps == 1 ? 0 : Double(i) / Double(steps - 1)
            return Float(pow(maxInv + ramp * (minInv - maxInv), rho))
        }
        result.append(0)
        return result
    }
}
