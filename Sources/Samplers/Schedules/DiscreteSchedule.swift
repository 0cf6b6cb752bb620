/// Timesteps evenly spaced from the last to the first training step, mapped to sigma.
///
/// Matches k-diffusion `DiscreteSchedule.get_sigmas` and stable-diffusion.cpp `discrete` (its
/// default): t_i = 999 - i * 999 / (n - 1), plus 0. One step gives [sigma_max, 0].
public struct DiscreteSchedule: NoiseSchedule {
    public init() {}

    public func sigmas(steps: Int, table: SigmaTable) -> [Float] {
        precondition(steps >= 1, "discrete schedule: steps \(steps)")
        let tMax = Double(table.sigmas.count - 1)
        var result = (0..<steps).map { i in
            table.sigma(atTimestep: steps == 1 ? tMax : tMax - Double(i) * tMax / Double(steps - 1))
        }
        result.append(0)
        return result
    }
}
