import Tensor

/// Adapts a network trained to predict the noise (SD 1.x, SD 2.x base, SDXL) into a denoiser:
/// D(x, sigma) = x - sigma * eps(c_in x, t(sigma)), with c_in = 1 / sqrt(sigma^2 + 1).
///
/// Matches k-diffusion `CompVisDenoiser` / `DiscreteEpsDDPMDenoiser` and stable-diffusion.cpp's
/// `CompVisDenoiser`; the timestep is fractional, not rounded.
public struct EpsilonPrediction<Model: NoisePredictor>: Denoiser {
    public let model: Model
    public let table: SigmaTable

    public init(_ model: Model, table: SigmaTable = .stableDiffusion) {
        self.model = model
        self.table = table
    }

    public func denoise(_ x: Tensor, sigma: Float) throws -> Tensor {
        let s = Double(sigma)
        let cIn = Float(1 / (s * s + 1).squareRoot())
        let eps = try model.predict(.weightedSum((cIn, x)), timestep: table.timestep(forSigma: sigma))
        return .weightedSum((1, x), (-sigma, eps))
    }
}

/// Adapts a v-prediction network (SD 2.x 768-v, v-pred SDXL):
/// D(x, sigma) = x / (sigma^2 + 1) - sigma / sqrt(sigma^2 + 1) * v(c_in x, t(sigma)).
///
/// Matches k-diffusion `CompVisVDenoiser` / `DiscreteVDDPMDenoiser` and stable-diffusion.cpp's
/// `CompVisVDenoiser`.
public struct VPrediction<Model: NoisePredictor>: Denoiser {
    public let model: Model
    public let table: SigmaTable

    public init(_ model: Model, table: SigmaTable = .stableDiffusion) {
        self.model = model
        self.table = table
    }

    public func denoise(_ x: Tensor, sigma: Float) throws -> Tensor {
        let s = Double(sigma)
        let cIn = 1 / (s * s + 1).squareRoot()
        let v = try model.predict(.weightedSum((Float(cIn), x)), timestep: table.timestep(forSigma: sigma))
        return .weightedSum((Float(cIn * cIn), x), (Float(-s * cIn), v))
    }
}
