import TestSupport
import Testing

@testable import Samplers
@testable import Tensor

@Suite struct ScheduleTests {
    let table = SigmaTable.stableDiffusion

    @Test func stableDiffusionTableEndsAreSDCppFloat32Values() throws {
        #expect(abs(table.sigmaMin - 0.0291675) < 1e-7)
        #expect(abs(table.sigmaMax - 14.6146555) < 2e-6)
        // The whole table equals the golden script's float32 transcription of calculate_alphas_cumprod.
        let golden = try SafetensorsFile(path: fixturePath("sampler_goldens.safetensors"))
        let reference = try golden.tensor("table.sigmas").toTensor().scalars
        let worst = zip(table.sigmas, reference).map { abs($0 - $1) / $1 }.max() ?? 1
        #expect(worst <= 1e-6, "relative difference \(worst)")
    }

    @Test func timestepAndSigmaAreInverse() {
        for t in stride(from: 0.0, through: 999.0, by: 37.3) {
            let sigma = table.sigma(atTimestep: t)
            #expect(abs(Double(table.timestep(forSigma: sigma)) - t) < 2e-3, "t \(t)")
        }
        #expect(table.timestep(forSigma: 100) == 999)
        #expect(table.timestep(forSigma: 1e-4) == 0)
        #expect(table.sigma(atTimestep: 999) == table.sigmaMax)
    }

    /// Against k-diffusion (`get_sigmas_karras`, `get_sigmas_exponential`, `DiscreteSchedule`)
    /// over the same table; goldens from Tests/Golden/generate_sampler_goldens.py.
    @Test(arguments: ["karras", "exponential", "discrete"], [1, 2, 4, 10, 20, 50, 1000])
    func scheduleMatchesKDiffusion(name: String, steps: Int) throws {
        let golden = try SafetensorsFile(path: fixturePath("sampler_goldens.safetensors"))
        let reference = try golden.tensor("schedule.\(name).\(steps)").toTensor().scalars
        let actual = try #require(ScheduleKind(name: name)).makeSchedule().sigmas(steps: steps, table: table)
        #expect(actual.count == reference.count)
        let worst = zip(actual, reference).map { abs($0 - $1) / max($1, 1e-3) }.max() ?? 1
        #expect(worst <= 2e-6, "\(name) \(steps): relative difference \(worst)")
    }

    /// The reference values printed in engine-reference.md 2.3 (stable-diffusion.cpp, 4 decimals).
    @Test(arguments: [
        ("discrete", 4, [14.6147, 2.9183, 0.9324, 0.0292, 0]),
        ("karras", 4, [14.6147, 3.1686, 0.4469, 0.0292, 0]),
        ("simple", 4, [14.6147, 4.0817, 1.6129, 0.6932, 0]),
        ("lcm", 4, [14.6147, 4.2606, 1.6129, 0.7194, 0]),
        ("sgm_uniform", 20, [
            14.6147, 10.9073, 8.3072, 6.4477, 5.0924, 4.0861, 3.3251, 2.7391, 2.2797, 1.9132, 1.6156, 1.3696, 1.1629,
            0.9860, 0.8319, 0.6951, 0.5712, 0.4557, 0.3437, 0.2255, 0,
        ]),
        ("simple", 20, [
            14.6147, 10.9042, 8.3028, 6.4430, 5.0878, 4.0817, 3.3211, 2.7355, 2.2765, 1.9103, 1.6129, 1.3672, 1.1606,
            0.9838, 0.8299, 0.6932, 0.5693, 0.4538, 0.3417, 0.2230, 0,
        ]),
        ("ays", 20, [
            14.6146, 9.7275, 6.4746, 5.0016, 3.8637, 3.2266, 2.6946, 2.2533, 1.8842, 1.6209, 1.3944, 1.1595, 0.9643,
            0.7931, 0.6524, 0.5094, 0.3977, 0.2455, 0.1515, 0.0665, 0,
        ]),
        ("exponential", 20, [
            14.6147, 10.5363, 7.5961, 5.4763, 3.9481, 2.8464, 2.0521, 1.4794, 1.0666, 0.7689, 0.5544, 0.3997, 0.2881,
            0.2077, 0.1498, 0.1080, 0.0778, 0.0561, 0.0405, 0.0292, 0,
        ]),
    ] as [(String, Int, [Double])])
    func scheduleMatchesStableDiffusionCppPrintout(name: String, steps: Int, expected: [Double]) throws {
        let actual = try #require(ScheduleKind(name: name)).makeSchedule().sigmas(steps: steps, table: table)
        #expect(actual.count == expected.count)
        for (a, e) in zip(actual, expected) {
            #expect(abs(Double(a) - e) <= 0.00006, "\(name) \(steps): \(actual)")
        }
    }

    @Test func aysAndGitsUseThePublishedTablesAtTheirNativeLengths() {
        let ays = AYSSchedule(variant: .sdxl).sigmas(steps: 10, table: table)
        #expect(ays.dropLast() == AYSSchedule.sdxlTable.dropLast().map { Float($0) })
        #expect(ays.last == 0)
        for steps in 2...20 {
            let gits = GITSSchedule().sigmas(steps: steps, table: table)
            #expect(gits.dropLast() == GITSSchedule.rows[steps - 2].dropLast().map { Float($0) })
        }
        // Beyond 20 steps GITS resamples the 20-step row log-linearly: the first value stays, the
        // last (0.02916753) becomes 0, and the one before it lies between the row's last two.
        let long = GITSSchedule().sigmas(steps: 37, table: table)
        #expect(long.count == 38 && abs(long[0] - 14.61464119) < 1e-5 && long[37] == 0)
        #expect(long[36] > 0.02916753 && long[36] < 0.09824532)
    }

    /// Every schedule, for step counts from 1 to 10 000: n + 1 finite values, non-increasing,
    /// ending with 0 (stable-diffusion.cpp gives NaN or reads out of bounds for some of these).
    @Test(arguments: ScheduleKind.allCases)
    func everyScheduleIsWellFormedForAnyStepCount(kind: ScheduleKind) {
        for steps in [1, 2, 3, 7, 21, 50, 51, 999, 1000, 1001, 10_000] {
            let sigmas = kind.makeSchedule().sigmas(steps: steps, table: table)
            #expect(sigmas.count == steps + 1, "\(kind) \(steps)")
            #expect(sigmas.last == 0)
            #expect(sigmas.allSatisfy { $0.isFinite && $0 >= 0 }, "\(kind) \(steps)")
            #expect(zip(sigmas, sigmas.dropFirst()).allSatisfy { $0 >= $1 }, "\(kind) \(steps) not descending")
            #expect(abs(sigmas[0] - table.sigmaMax) < 1e-3, "\(kind) \(steps) starts at \(sigmas[0])")
        }
    }

    @Test func scheduleNamesParse() {
        #expect(ScheduleKind(name: "normal") == .discrete)
        #expect(ScheduleKind(name: "Karras") == .karras)
        #expect(ScheduleKind(name: "sgm-uniform") == .sgmUniform)
        #expect(ScheduleKind(name: "cosine") == nil)
    }

    @Test func img2imgStrengthSelectsTheTailOfTheSchedule() {
        let sigmas = DiscreteSchedule().sigmas(steps: 20, table: table)
        let tail = Img2ImgStart.sigmas(sigmas, strength: 0.75)
        #expect(tail.count == 17)  // t_enc = 15: 16 steps from sigmas[4]
        #expect(tail.first == sigmas[4] && tail.last == 0)
        #expect(Img2ImgStart.sigmas(sigmas, strength: 1) == sigmas)
        #expect(Img2ImgStart.sigmas(sigmas, strength: 0.999) == sigmas)  // t_enc = 19: all 20 steps
        #expect(Img2ImgStart.sigmas(sigmas, strength: 0) == [sigmas[19], 0])
        #expect(Img2ImgStart.sigmas([14.6, 0], strength: 0.5) == [14.6, 0])
    }
}
