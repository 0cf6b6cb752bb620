import Foundation

/// The noise levels a model was trained on: `sigmas[t]` for timesteps t = 0..<count (ascending),
/// with k-diffusion's log-sigma interpolation between timestep and sigma.
public struct SigmaTable: Sendable, Equatable {
    /// sigma for each training timestep, ascending.
    public let sigmas: [Float]
    private let logSigmas: [Double]

    /// A table from its sigmas (at least 2, positive, ascending).
    public init(sigmas: [Float]) {
        precondition(sigmas.count >= 2, "SigmaTable: needs at least 2 sigmas")
        precondition(zip(sigmas, sigmas.dropFirst()).allSatisfy { $0 > 0 && $0 <= $1 }, "SigmaTable: sigmas must ascend")
        self.sigmas = sigmas
        self.logSigmas = sigmas.map { log(Double($0)) }
    }

    /// The table of a DDPM with the given cumulative alpha products: sigma = sqrt((1 - ab) / ab).
    public init(alphasCumprod: [Float]) {
        self.init(sigmas: alphasCumprod.map { ((1 - $0) / $0).squareRoot() })
    }

    /// SD 1.x/2.x/XL's "scaled_linear" betas (0.00085 to 0.012 over 1000 steps), computed in
    /// float32 as stable-diffusion.cpp's `calculate_alphas_cumprod` does: sigma_min 0.0291675,
    /// sigma_max 14.6146555 (the float64 values are 0.0291672 and 14.6146412).
    public static let stableDiffusion = SigmaTable(scaledLinearFrom: 0.00085, to: 0.012, timesteps: 1000)

    /// A "scaled_linear" schedule: betas interpolated linearly in sqrt space, in float32.
    public init(scaledLinearFrom betaStart: Float, to betaEnd: Float, timesteps: Int) {
        let start = betaStart.squareRoot(), end = betaEnd.squareRoot()
        var product: Float = 1
        var alphas: [Float] = []
        for i in 0..<timesteps {
            let beta = start + (end - start) * (Float(i) / Float(timesteps - 1))
            product *= 1 - beta * beta
            alphas.append(product)
        }
        self.init(alphasCumprod: alphas)
    }

    /// sigma at timestep 0.
    public var sigmaMin: Float { sigmas[0] }
    /// sigma at the last timestep.
    public var sigmaMax: Float { sigmas[sigmas.count - 1] }
    /// Cumulative alpha product at timestep `t`: 1 / (sigma^2 + 1).
    public func alphaCumprod(at t: Int) -> Double {
        let s = Double(sigmas[t])
        return 1 / (s * s + 1)
    }

    /// sigma at a fractional timestep (clamped to the table): log-linear between neighbours.
    /// Matches k-diffusion `DiscreteSchedule.t_to_sigma`.
    public func sigma(atTimestep t: Double) -> Float {
        let t = min(max(t, 0), Double(sigmas.count - 1))
        let low = Int(t.rounded(.down)), high = Int(t.rounded(.up))
        let w = t - Double(low)
        return Float(exp((1 - w) * logSigmas[low] + w * logSigmas[high]))
    }

    /// The fractional timestep of `sigma` (inverse of `sigma(atTimestep:)`, clamped to the table).
    /// Matches k-diffusion `DiscreteSchedule.sigma_to_t` with `quantize = false`, as
    /// stable-diffusion.cpp uses it: the UNet gets the fractional timestep.
    public func timestep(forSigma sigma: Float) -> Float {
        let l = log(Double(max(sigma, .leastNormalMagnitude)))
        // Index of the last table entry whose log-sigma is <= l, clamped so a neighbour exists.
        var lowerCount = 0
        var lo = 0, hi = logSigmas.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if logSigmas[mid] <= l { lo = mid + 1 } else { hi = mid }
        }
        lowerCount = lo
        let low = min(max(lowerCount - 1, 0), logSigmas.count - 2)
        let high = low + 1
        let w = min(max((logSigmas[low] - l) / (logSigmas[low] - logSigmas[high]), 0), 1)
        return Float((1 - w) * Double(low) + w * Double(high))
    }
}
