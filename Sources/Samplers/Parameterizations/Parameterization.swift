import Tensor

/// k-diffusion's `get_scalings`: how a network's raw output F becomes the denoiser's x0 estimate,
/// D(x, sigma) = c_skip · x + c_out · F(c_in · x, t(sigma)).
public struct DenoiserScalings: Sendable, Equatable {
    public var cSkip: Float
    public var cOut: Float
    public var cIn: Float

    public init(cSkip: Float, cOut: Float, cIn: Float) {
        self.cSkip = cSkip
        self.cOut = cOut
        self.cIn = cIn
    }
}

/// What a network was trained to predict, and on which noise levels: the scalings that turn its
/// output into x0, and the sigma table that maps a noise level to the timestep the network is
/// conditioned on. The parameterization owns the table, so schedules and samplers stay model-free
/// (they take `table` and a denoiser, never a model).
public protocol Parameterization: Sendable {
    /// The noise levels the network was trained on (schedules are drawn from it).
    var table: SigmaTable { get }
    /// The scalings at noise level `sigma`.
    func scalings(sigma: Float) -> DenoiserScalings
    /// The timestep the network is conditioned on at `sigma`.
    func timestep(forSigma sigma: Float) -> Float
    /// How noisy samples are made (variance-exploding unless said otherwise).
    var noiseModel: NoiseModel { get }
}

extension Parameterization {
    /// The table's fractional timestep (k-diffusion `sigma_to_t` without quantizing, as
    /// stable-diffusion.cpp uses it).
    public func timestep(forSigma sigma: Float) -> Float { table.timestep(forSigma: sigma) }
    public var noiseModel: NoiseModel { .varianceExploding }
}

/// Noise prediction (SD 1.x, SD 2.x base, SDXL): c_skip 1, c_out -sigma, c_in 1 / sqrt(sigma^2 + 1).
/// k-diffusion `CompVisDenoiser` / `DiscreteEpsDDPMDenoiser`, stable-diffusion.cpp's `CompVisDenoiser`.
public struct EpsilonParameterization: Parameterization {
    public let table: SigmaTable

    public init(table: SigmaTable = .stableDiffusion) { self.table = table }

    public func scalings(sigma: Float) -> DenoiserScalings {
        let s = Double(sigma)
        return DenoiserScalings(cSkip: 1, cOut: -sigma, cIn: Float(1 / (s * s + 1).squareRoot()))
    }
}

/// v prediction (SD 2.x 768-v, v-pred SDXL): c_skip 1 / (sigma^2 + 1), c_out -sigma / sqrt(sigma^2 + 1),
/// c_in 1 / sqrt(sigma^2 + 1). k-diffusion `CompVisVDenoiser` / `DiscreteVDDPMDenoiser`,
/// stable-diffusion.cpp's `CompVisVDenoiser`.
public struct VParameterization: Parameterization {
    public let table: SigmaTable

    public init(table: SigmaTable = .stableDiffusion) { self.table = table }

    public func scalings(sigma: Float) -> DenoiserScalings {
        let s = Double(sigma)
        // In double, rounded once each, so c_skip is exactly the square of the unrounded c_in.
        let cIn = 1 / (s * s + 1).squareRoot()
        return DenoiserScalings(cSkip: Float(cIn * cIn), cOut: Float(-s * cIn), cIn: Float(cIn))
    }
}

/// A network's raw output turned into a denoiser by a parameterization (the one adapter between a
/// `NoisePredictor` and the samplers).
public struct ParameterizedDenoiser<Model: NoisePredictor, P: Parameterization>: Denoiser {
    public let model: Model
    public let parameterization: P

    public init(_ model: Model, parameterization: P) {
        self.model = model
        self.parameterization = parameterization
    }

    public var noiseModel: NoiseModel { parameterization.noiseModel }

    public func denoise(_ x: Tensor, sigma: Float) throws -> Tensor {
        let c = parameterization.scalings(sigma: sigma)
        let output = try model.predict(.weightedSum((c.cIn, x)), timestep: parameterization.timestep(forSigma: sigma))
        return .weightedSum((c.cSkip, x), (c.cOut, output))
    }
}

/// A noise-predicting network as a denoiser.
public typealias EpsilonPrediction<Model: NoisePredictor> = ParameterizedDenoiser<Model, EpsilonParameterization>
/// A v-predicting network as a denoiser.
public typealias VPrediction<Model: NoisePredictor> = ParameterizedDenoiser<Model, VParameterization>

extension ParameterizedDenoiser where P == EpsilonParameterization {
    public init(_ model: Model, table: SigmaTable = .stableDiffusion) {
        self.init(model, parameterization: EpsilonParameterization(table: table))
    }
}

extension ParameterizedDenoiser where P == VParameterization {
    public init(_ model: Model, table: SigmaTable = .stableDiffusion) {
        self.init(model, parameterization: VParameterization(table: table))
    }
}
