import Foundation

/// A sigma schedule: `steps + 1` noise levels, descending, ending with 0.
public protocol NoiseSchedule: Sendable {
    /// The schedule for `steps` >= 1 sampling steps over a model's sigma table.
    func sigmas(steps: Int, table: SigmaTable) -> [Float]
}

/// The wire names of the schedules, and the only switch over them.
public enum ScheduleKind: String, CaseIterable, Sendable, Codable {
    case discrete, karras, exponential, ays, gits, simple
    case sgmUniform = "sgm_uniform"
    case lcm

    /// Parses a wire name, case-insensitively; `normal` and `default` mean `discrete`.
    public init?(name: String) {
        let key = name.lowercased().replacingOccurrences(of: "-", with: "_")
        switch key {
        case "normal", "default": self = .discrete
        case "sgmuniform": self = .sgmUniform
        default:
            guard let kind = ScheduleKind(rawValue: key) else { return nil }
            self = kind
        }
    }

    /// The schedule; `ays` picks the Align-Your-Steps table for the model family.
    public func makeSchedule(ays variant: AYSSchedule.Variant = .sd15) -> any NoiseSchedule {
        switch self {
        case .discrete: DiscreteSchedule()
        case .karras: KarrasSchedule()
        case .exponential: ExponentialSchedule()
        case .ays: AYSSchedule(variant: variant)
        case .gits: GITSSchedule()
        case .simple: SimpleSchedule()
        case .sgmUniform: SGMUniformSchedule()
        case .lcm: LCMSchedule()
        }
    }
}

/// Resamples a descending schedule to `count` points by linear interpolation of log-sigma over
/// an even grid (the rule Align-Your-Steps and GITS use for step counts without a table row).
func logLinearResample(_ sigmas: [Double], count: Int) -> [Double] {
    precondition(sigmas.count >= 2 && count >= 1, "logLinearResample: \(sigmas.count) -> \(count)")
    let logs = sigmas.reversed().map { log($0) }  // ascending
    let last = Double(logs.count - 1)
    var result: [Double] = []
    for j in 0..<count {
        let x = count == 1 ? 0 : Double(j) / Double(count - 1) * last
        let i = min(Int(x), logs.count - 2)
        let w = x - Double(i)
        result.append(exp(logs[i] * (1 - w) + logs[i + 1] * w))
    }
    return result.reversed()
}
