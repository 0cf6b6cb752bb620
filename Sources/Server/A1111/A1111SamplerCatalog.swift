import Foundation
import Samplers

/// AUTOMATIC1111's sampler and scheduler names mapped onto ours. A1111 (1.9 and later) names a
/// sampler (`sampler_name`, older clients `sampler_index`) and a scheduler (`scheduler`) apart;
/// before 1.9 the schedule was part of the name ("DPM++ 2M Karras"), which is still accepted.
/// "Automatic" is the sampler's own default, as in A1111's table (Karras for DPM++ 2M, DPM++ 2S a
/// and DPM2; the uniform one for the rest). Our own wire names (`dpm++2m`, `ipndm`, ...) work too.
enum A1111SamplerCatalog {
    /// One sampler as `/sdapi/v1/samplers` lists it.
    struct Sampler: Sendable {
        let name: String
        let aliases: [String]
        let kind: SamplerKind
        /// A1111's schedule for "Automatic"; nil is our sampler's default.
        let automaticSchedule: ScheduleKind?
        /// A1111's `options` (its table's flags), as its API lists them.
        let options: [String: A1111JSON]
    }

    /// One scheduler as `/sdapi/v1/schedulers` lists it.
    struct Scheduler: Sendable {
        let name: String
        let label: String
        let aliases: [String]?
        let defaultRho: Double?
        let needsInnerModel: Bool
        /// nil: "Automatic".
        let kind: ScheduleKind?
    }

    /// What a request's names resolve to.
    struct Choice: Sendable, Equatable {
        let sampler: SamplerKind
        /// nil: our sampler's default.
        let schedule: ScheduleKind?
        /// The A1111 names, as the answer's `info` reports them.
        let samplerName: String
        let schedulerLabel: String
    }

    static let samplers: [Sampler] = [
        Sampler(
            name: "DPM++ 2M", aliases: ["k_dpmpp_2m", "dpm++2m"], kind: .dpmpp2M, automaticSchedule: .karras,
            options: ["scheduler": .string("karras")]),
        Sampler(
            name: "DPM++ 2S a", aliases: ["k_dpmpp_2s_a", "dpm++2s_a"], kind: .dpmpp2SAncestral, automaticSchedule: .karras,
            options: ["scheduler": .string("karras"), "uses_ensd": .bool(true), "second_order": .bool(true)]),
        Sampler(name: "Euler a", aliases: ["k_euler_a", "k_euler_ancestral", "euler_a"], kind: .eulerAncestral, automaticSchedule: nil, options: ["uses_ensd": .bool(true)]),
        Sampler(name: "Euler", aliases: ["k_euler", "euler"], kind: .euler, automaticSchedule: nil, options: [:]),
        Sampler(name: "Heun", aliases: ["k_heun", "heun"], kind: .heun, automaticSchedule: nil, options: ["second_order": .bool(true)]),
        Sampler(
            name: "DPM2", aliases: ["k_dpm_2", "dpm2"], kind: .dpm2, automaticSchedule: .karras,
            options: ["scheduler": .string("karras"), "discard_next_to_last_sigma": .bool(true), "second_order": .bool(true)]),
        Sampler(name: "LCM", aliases: ["k_lcm", "lcm"], kind: .lcm, automaticSchedule: nil, options: [:]),
        // Ours, not A1111's: DDIM here is DDIM on trailing timesteps (stable-diffusion.cpp's
        // ddim_trailing), not A1111's leading ones.
        Sampler(name: "DDIM", aliases: ["ddim_trailing"], kind: .ddimTrailing, automaticSchedule: nil, options: [:]),
        Sampler(name: "DPM++ 2M v2", aliases: ["dpm++2mv2"], kind: .dpmpp2MV2, automaticSchedule: nil, options: [:]),
        Sampler(name: "iPNDM", aliases: ["ipndm"], kind: .ipndm, automaticSchedule: nil, options: [:]),
        Sampler(name: "iPNDM_v", aliases: ["ipndm_v"], kind: .ipndmV, automaticSchedule: nil, options: [:]),
    ]

    static let schedulers: [Scheduler] = [
        Scheduler(name: "automatic", label: "Automatic", aliases: nil, defaultRho: -1, needsInnerModel: false, kind: nil),
        // k-diffusion's get_sigmas: timesteps evenly spaced, our `discrete`.
        Scheduler(name: "uniform", label: "Uniform", aliases: nil, defaultRho: -1, needsInnerModel: true, kind: .discrete),
        Scheduler(name: "karras", label: "Karras", aliases: nil, defaultRho: 7, needsInnerModel: false, kind: .karras),
        Scheduler(name: "exponential", label: "Exponential", aliases: nil, defaultRho: -1, needsInnerModel: false, kind: .exponential),
        Scheduler(name: "sgm_uniform", label: "SGM Uniform", aliases: ["SGMUniform"], defaultRho: -1, needsInnerModel: true, kind: .sgmUniform),
        Scheduler(name: "align_your_steps", label: "Align Your Steps", aliases: ["ays"], defaultRho: -1, needsInnerModel: false, kind: .ays),
        Scheduler(name: "simple", label: "Simple", aliases: nil, defaultRho: -1, needsInnerModel: true, kind: .simple),
        // ComfyUI's normal: the same evenly spaced timesteps as uniform.
        Scheduler(name: "normal", label: "Normal", aliases: ["discrete"], defaultRho: -1, needsInnerModel: true, kind: .discrete),
        // Ours.
        Scheduler(name: "gits", label: "GITS", aliases: nil, defaultRho: -1, needsInnerModel: false, kind: .gits),
        Scheduler(name: "lcm", label: "LCM", aliases: nil, defaultRho: -1, needsInnerModel: false, kind: .lcm),
    ]

    /// Resolves the names a request sent (nil: A1111's defaults, "Euler" and "Automatic").
    /// - Throws: `ServerError.invalidField` naming `sampler_name` (or `sampler_index`) or
    ///   `scheduler`, listing what is supported.
    static func resolve(sampler samplerText: String?, field: String, scheduler schedulerText: String?) throws -> Choice {
        let text = (samplerText ?? "Euler").trimmingCharacters(in: .whitespaces)
        var suffixSchedule: Scheduler?
        var base = text
        // A1111 before 1.9: "DPM++ 2M Karras", "DPM++ 2M SDE Exponential".
        for candidate in schedulers where candidate.kind != nil && text.lowercased().hasSuffix(" " + candidate.label.lowercased()) {
            base = String(text.dropLast(candidate.label.count + 1))
            suffixSchedule = candidate
            break
        }
        guard let sampler = lookUpSampler(base) else {
            throw ServerError.invalidField(
                field: field,
                message: "'\(field)' names a sampler this server does not have: '\(text.prefix(60))' (one of \(samplers.map(\.name).joined(separator: ", ")))")
        }
        var scheduler = suffixSchedule
        if let schedulerText, let named = lookUpScheduler(schedulerText) {
            // An explicit scheduler wins over the name's; "Automatic" leaves the name's.
            if named.kind != nil || scheduler == nil { scheduler = named }
        } else if let schedulerText, !schedulerText.isEmpty {
            throw ServerError.invalidField(
                field: "scheduler",
                message: "'scheduler' names a schedule this server does not have: '\(schedulerText.prefix(60))' (one of \(schedulers.map(\.label).joined(separator: ", ")))")
        }
        let schedule = scheduler?.kind ?? sampler.automaticSchedule
        // "Automatic" is reported as what it chose where A1111's table says (Karras).
        let label = schedulers.first { $0.kind != nil && $0.kind == schedule && $0.name != "normal" }?.label ?? "Automatic"
        return Choice(sampler: sampler.kind, schedule: schedule, samplerName: sampler.name, schedulerLabel: label)
    }

    /// A1111's names and aliases first, then our own parser's (`Euler a`, `dpmpp_2m`, ...).
    private static func lookUpSampler(_ text: String) -> Sampler? {
        let key = text.lowercased()
        if let hit = samplers.first(where: { $0.name.lowercased() == key || $0.aliases.contains { $0.lowercased() == key } }) { return hit }
        guard let kind = SamplerKind(name: text) else { return nil }
        return samplers.first { $0.kind == kind }
    }

    /// By name, label or alias, ignoring case; an empty name is "Automatic".
    private static func lookUpScheduler(_ text: String) -> Scheduler? {
        let key = text.trimmingCharacters(in: .whitespaces).lowercased()
        if key.isEmpty { return schedulers[0] }
        return schedulers.first { candidate in
            candidate.name == key || candidate.label.lowercased() == key || (candidate.aliases ?? []).contains { $0.lowercased() == key }
        }
    }
}
