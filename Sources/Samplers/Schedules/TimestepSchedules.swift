import Foundation

/// ComfyUI's "simple": every (1000/n)-th timestep from the last, t_i = 999 - floor(i * 1000 / n),
/// which is diffusers' "trailing" spacing (999, 949, ..., 49 for 20 steps).
///
/// Matches stable-diffusion.cpp `simple`; the default of `ddim_trailing`.
public struct SimpleSchedule: NoiseSchedule {
    public init() {}

    public func sigmas(steps: Int, table: SigmaTable) -> [Float] {
        precondition(steps >= 1, "simple schedule: steps \(steps)")
        let last = table.sigmas.count - 1
        return (0..<steps).map { i in
            let t = max(0, last - Int((Double(i) * Double(last + 1) / Double(steps)).rounded(.down)))
            return table.sigmas[t]
        } + [0]
    }
}

/// Timesteps evenly spaced from the last step to 0 over n + 1 points, keeping the first n.
///
/// Matches stable-diffusion.cpp and ComfyUI `sgm_uniform` (999, 949.05, ..., 49.95 for 20 steps).
public struct SGMUniformSchedule: NoiseSchedule {
    public init() {}

    public func sigmas(steps: Int, table: SigmaTable) -> [Float] {
        precondition(steps >= 1, "sgm_uniform schedule: steps \(steps)")
        let last = Double(table.sigmas.count - 1)
        return (0..<steps).map { i in table.sigma(atTimestep: last - Double(i) * last / Double(steps)) } + [0]
    }
}

/// The LCM schedule: every (n/50)-th step of LCM's 50-step "original" schedule,
/// t_i = 20 (50 - floor(50 i / n)) - 1 (999, 759, 499, 259 for 4 steps).
///
/// Matches stable-diffusion.cpp `lcm` (the default of the `lcm` and `tcd` samplers). Assumes the
/// usual 1000-step table; step counts above 50 repeat timesteps.
public struct LCMSchedule: NoiseSchedule {
    public init() {}

    public func sigmas(steps: Int, table: SigmaTable) -> [Float] {
        precondition(steps >= 1, "lcm schedule: steps \(steps)")
        let stride = table.sigmas.count / 50
        return (0..<steps).map { i in
            let t = stride * (50 - Int((50 * Double(i) / Double(steps)).rounded(.down))) - 1
            return table.sigmas[min(max(t, 0), table.sigmas.count - 1)]
        } + [0]
    }
}
