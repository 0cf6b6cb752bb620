import Samplers
@testable import Server
import Testing

/// A1111's sampler and scheduler names onto ours: the 1.9+ split, the older combined names,
/// "Automatic" as A1111's per-sampler default, our own wire names, and refusals naming the field.
@Suite struct A1111SamplerCatalogTests {
    @Test(arguments: [
        ("DPM++ 2M", nil, SamplerKind.dpmpp2M, ScheduleKind?.some(.karras), "DPM++ 2M", "Karras"),
        ("DPM++ 2M Karras", "Automatic", .dpmpp2M, .karras, "DPM++ 2M", "Karras"),
        ("DPM++ 2M Karras", "Exponential", .dpmpp2M, .exponential, "DPM++ 2M", "Exponential"),
        ("dpm++2m", "exponential", .dpmpp2M, .exponential, "DPM++ 2M", "Exponential"),
        ("Euler a", "Karras", .eulerAncestral, .karras, "Euler a", "Karras"),
        ("k_euler", nil, .euler, nil, "Euler", "Automatic"),
        ("Euler", "SGMUniform", .euler, .sgmUniform, "Euler", "SGM Uniform"),
        ("Euler", "normal", .euler, .discrete, "Euler", "Uniform"),
        ("DPM2", "", .dpm2, .karras, "DPM2", "Karras"),
        ("DDIM", nil, .ddimTrailing, nil, "DDIM", "Automatic"),
        ("ipndm_v", "Align Your Steps", .ipndmV, .ays, "iPNDM_v", "Align Your Steps"),
    ] as [(String, String?, SamplerKind, ScheduleKind?, String, String)])
    func namesResolve(sampler: String, scheduler: String?, kind: SamplerKind, schedule: ScheduleKind?, name: String, label: String) throws {
        let choice = try A1111SamplerCatalog.resolve(sampler: sampler, field: "sampler_name", scheduler: scheduler)
        #expect(choice == A1111SamplerCatalog.Choice(sampler: kind, schedule: schedule, samplerName: name, schedulerLabel: label))
    }

    @Test func noNamesAreEulerAutomatic() throws {
        let choice = try A1111SamplerCatalog.resolve(sampler: nil, field: "sampler_name", scheduler: nil)
        #expect(choice.sampler == .euler && choice.schedule == nil)
    }

    @Test(arguments: [("DPM++ SDE", "Automatic", "sampler_name"), ("DPM++ 2M SDE Exponential", nil, "sampler_name"), ("Euler", "Beta", "scheduler")])
    func unsupportedNamesAreRefusedNamingTheField(sampler: String, scheduler: String?, field: String) {
        let error = #expect(throws: ServerError.self) {
            _ = try A1111SamplerCatalog.resolve(sampler: sampler, field: "sampler_name", scheduler: scheduler)
        }
        guard case .invalidField(let named, _)? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(named == field)
    }
}
