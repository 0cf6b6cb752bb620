import Foundation

/// The DDPM buffers an LDM checkpoint carries beside its weights (`betas`, `alphas_cumprod`, ...),
/// computed for SD's scaled-linear schedule (1000 steps, beta 0.00085 to 0.012) so the file holds
/// what a real one does. No loader here reads them; stable-diffusion.cpp and diffusers do not either.
enum DDPMSchedule {
    /// The buffer called `name` (1000 values), or nil if `name` is not one of them.
    static func buffer(_ name: String) -> [Float]? {
        let n = 1000
        let (first, last) = (0.00085.squareRoot(), 0.012.squareRoot())
        let betas = (0..<n).map { i -> Double in
            let s: Double = first + (last - first) * Double(i) / Double(n - 1)
            return s * s
        }
        var cumprod: [Double] = []
        var running = 1.0
        for b in betas {
            running *= 1 - b
            cumprod.append(running)
        }
        let previous = [1.0] + cumprod.dropLast()
        // LDM's posterior variance with v_posterior 0: beta_t (1 - abar_{t-1}) / (1 - abar_t).
        let posteriorVariance = (0..<n).map { i -> Double in betas[i] * (1 - previous[i]) / (1 - cumprod[i]) }
        let values: [Double]
        switch name {
        case "betas": values = betas
        case "alphas_cumprod": values = cumprod
        case "alphas_cumprod_prev": values = previous
        case "sqrt_alphas_cumprod": values = cumprod.map { $0.squareRoot() }
        case "sqrt_one_minus_alphas_cumprod": values = cumprod.map { (1 - $0).squareRoot() }
        case "log_one_minus_alphas_cumprod": values = cumprod.map { log(1 - $0) }
        case "sqrt_recip_alphas_cumprod": values = cumprod.map { (1 / $0).squareRoot() }
        case "sqrt_recipm1_alphas_cumprod": values = cumprod.map { (1 / $0 - 1).squareRoot() }
        case "posterior_variance": values = posteriorVariance
        case "posterior_log_variance_clipped": values = posteriorVariance.map { log(max($0, 1e-20)) }
        case "posterior_mean_coef1":
            values = (0..<n).map { i -> Double in
                let root: Double = previous[i].squareRoot()
                return betas[i] * root / (1 - cumprod[i])
            }
        case "posterior_mean_coef2":
            values = (0..<n).map { i -> Double in
                let keep: Double = (1 - betas[i]).squareRoot()
                return (1 - previous[i]) * keep / (1 - cumprod[i])
            }
        default: return nil
        }
        return values.map { Float($0) }
    }
}
