import Foundation

/// Rectified-flow velocity prediction (SD3, SD3.5, FLUX): `x = (1 - sigma) x0 + sigma noise`, the
/// network predicts v = noise - x0, so D = x - sigma v: c_skip 1, c_out -sigma, c_in 1, and the
/// network is conditioned on t = 1000 sigma (diffusers' `FlowMatchEulerDiscreteScheduler`
/// timesteps; a FLUX transformer divides by 1000 again). ComfyUI `CONST` / stable-diffusion.cpp
/// `DiscreteFlowDenoiser`.
///
/// The table is the 1000 training noise levels after the time shift (`shift`; SD3 and SD3.5 3.0,
/// FLUX-schnell 1.0): sigma_t = shift s / (1 + (shift - 1) s) for s = (t + 1) / 1000, so sigma_max
/// is 1 and schedules such as `karras` work on it as on any table; `FlowMatchSchedule` is the
/// diffusers default.
public struct FlowParameterization: Parameterization {
    public let table: SigmaTable
    /// The time shift the table was made with (for `FlowMatchSchedule`).
    public let shift: Double
    /// Training timesteps (1000).
    public let timesteps: Int

    public init(shift: Double = 1, timesteps: Int = 1000) {
        precondition(shift > 0 && timesteps >= 2, "FlowParameterization: shift \(shift), timesteps \(timesteps)")
        self.shift = shift
        self.timesteps = timesteps
        table = SigmaTable(sigmas: (0..<timesteps).map { Float(Self.shifted(Double($0 + 1) / Double(timesteps), by: shift)) })
    }

    /// SD3's time shift: shift s / (1 + (shift - 1) s).
    public static func shifted(_ s: Double, by shift: Double) -> Double {
        shift == 1 ? s : shift * s / (1 + (shift - 1) * s)
    }

    public var noiseModel: NoiseModel { .rectifiedFlow }

    public func scalings(sigma: Float) -> DenoiserScalings {
        DenoiserScalings(cSkip: 1, cOut: -sigma, cIn: 1)
    }

    public func timestep(forSigma sigma: Float) -> Float { sigma * Float(timesteps) }
}
