import ArgumentParser
import Foundation
import Samplers
import Tensor

/// Runs any sampler and schedule against an analytic denoiser, with no model: for researchers.
///
/// The data are per-element Gaussian, x0 ~ N(0, s^2), whose exact denoiser is
/// D(x, sigma) = x s^2 / (s^2 + sigma^2). The probability-flow ODE then has the closed form
/// x(sigma) = x(sigma_0) sqrt((s^2 + sigma^2) / (s^2 + sigma_0^2)), so deterministic samplers get an
/// exact error after every step; for every sampler the tool also compares the sample's standard
/// deviation with the exact marginal sqrt(s^2 + sigma^2).
@main
struct SamplerLab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sampler-lab",
        abstract: "Run a sampler and schedule on Gaussian data with an exact denoiser; print the error per step.")

    @Option(help: "Sampler: \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", ")) (aliases accepted).")
    var sampler = "euler"

    @Option(help: "Schedule: \(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: the sampler's).")
    var schedule: String?

    @Option(help: "Number of sampling steps.")
    var steps = 20

    @Option(help: "Standard deviation s of the data.")
    var dataStd: Double = 0.5

    @Option(help: "Number of independent elements sampled.")
    var elements = 4096

    @Option(help: "Random generator: cuda, cpu or std_default.")
    var rng = "cuda"

    @Option(help: "Seed of the starting noise and of any step noise.")
    var seed: UInt64 = 0

    @Option(help: "Ancestral noise scale eta (samplers that have one).")
    var eta: Float?

    @Option(help: "Write sigmas and x after every step to this safetensors file.")
    var trajectory: String?

    func run() throws {
        guard let kind = SamplerKind(name: sampler) else { throw ValidationError("unknown sampler '\(sampler)'") }
        let scheduleKind = try schedule.map {
            guard let k = ScheduleKind(name: $0) else { throw ValidationError("unknown schedule '\($0)'") }
            return k
        } ?? kind.defaultSchedule
        guard let rngKind = RNGKind(rawValue: rng) else { throw ValidationError("unknown rng '\(rng)'") }
        guard steps >= 1, elements >= 1, dataStd > 0 else { throw ValidationError("steps, elements and data-std must be positive") }

        let sigmas = scheduleKind.makeSchedule().sigmas(steps: steps, table: .stableDiffusion)
        var noise = rngKind.makeSource(seed: seed)
        let start = Tensor.weightedSum((sigmas[0], noise.normal(shape: [elements])))
        let s2 = dataStd * dataStd
        let sigma0 = Double(sigmas[0])
        let deterministic = ![.eulerAncestral, .dpmpp2SAncestral, .lcm].contains(kind) || eta == 0
        var writer = SafetensorsWriter(metadata: [
            "sampler": kind.rawValue, "schedule": scheduleKind.rawValue, "steps": "\(steps)", "data_std": "\(dataStd)",
            "seed": "\(seed)", "rng": rngKind.rawValue,
        ])
        writer.add("sigmas", Tensor(shape: [sigmas.count], values: sigmas))
        writer.add("x.start", start)

        print("sampler \(kind.rawValue), schedule \(scheduleKind.rawValue), \(steps) steps, data std \(dataStd)")
        print(deterministic ? "step  sigma      next       ODE max error  std / exact std" : "step  sigma      next       std / exact std")
        _ = try kind.makeSampler(eta: eta).sample(
            start, sigmas: sigmas, denoiser: GaussianData(variance: s2), noise: &noise
        ) { step in
            let next = Double(step.sigmaNext)
            let exactStd = (s2 + next * next).squareRoot()
            let values = step.x.scalars
            let std = (values.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(values.count)).squareRoot()
            var line = String(format: "%4d  %-9.5g  %-9.5g", step.index, step.sigma, step.sigmaNext)
            if deterministic {
                let scale = ((s2 + next * next) / (s2 + sigma0 * sigma0)).squareRoot()
                let error = zip(values, start.scalars).map { abs(Double($0) - Double($1) * scale) }.max() ?? 0
                line += String(format: "  %-13.4e", error)
            }
            line += String(format: "  %.5f", std / exactStd)
            print(line)
            writer.add("x.\(step.index)", step.x)
        }
        if let path = trajectory {
            try writer.write(to: path)
            print("trajectory written to \(path)")
        }
    }
}

/// The exact denoiser of x0 ~ N(0, variance), element-wise.
struct GaussianData: Denoiser {
    let variance: Double

    func denoise(_ x: Tensor, sigma: Float) throws -> Tensor {
        .weightedSum((Float(variance / (variance + Double(sigma) * Double(sigma))), x))
    }
}
