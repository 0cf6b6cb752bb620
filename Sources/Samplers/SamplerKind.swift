/// The sampling methods by wire name (`sample_method` in the API, `--sampler` on the command
/// line). This is the only switch over samplers: the CLI and the server both go through it.
public enum SamplerKind: String, CaseIterable, Sendable, Codable {
    case euler
    case eulerAncestral = "euler_a"
    case heun
    case dpm2
    case dpmpp2SAncestral = "dpm++2s_a"
    case dpmpp2M = "dpm++2m"
    case dpmpp2MV2 = "dpm++2mv2"
    case ipndm
    case ipndmV = "ipndm_v"
    case lcm
    case ddimTrailing = "ddim_trailing"

    /// Parses a wire name or a common alias, ignoring case, spaces, '-' and '_', with '+' read as
    /// 'p': `dpmpp_2m`, `DPM++ 2M`, `k_euler_a`, `Euler a`, `euler_ancestral` all work.
    public init?(name: String) {
        var key = name.lowercased().replacingOccurrences(of: "+", with: "p")
        key.removeAll { $0 == " " || $0 == "_" || $0 == "-" }
        if key.hasPrefix("k") && key != "k" && SamplerKind.aliases[key] == nil { key.removeFirst() }
        guard let kind = SamplerKind.aliases[key] else { return nil }
        self = kind
    }

    private static let aliases: [String: SamplerKind] = {
        var table: [String: SamplerKind] = [:]
        for kind in SamplerKind.allCases {
            var key = kind.rawValue.replacingOccurrences(of: "+", with: "p")
            key.removeAll { $0 == "_" }
            table[key] = kind
        }
        table["eulerancestral"] = .eulerAncestral
        table["dpmpp2sancestral"] = .dpmpp2SAncestral
        return table
    }()

    /// The sampler with its reference defaults; `eta` overrides the ancestral noise scale of the
    /// methods that have one (euler_a 1, dpm++2s_a 1, ddim_trailing 0).
    public func makeSampler(eta: Float? = nil) -> any Sampler {
        switch self {
        case .euler: EulerSampler()
        case .eulerAncestral: EulerAncestralSampler(eta: eta ?? 1)
        case .heun: HeunSampler()
        case .dpm2: DPM2Sampler()
        case .dpmpp2SAncestral: DPMPP2SAncestralSampler(eta: eta ?? 1)
        case .dpmpp2M: DPMPP2MSampler()
        case .dpmpp2MV2: DPMPP2MV2Sampler()
        case .ipndm: IPNDMSampler()
        case .ipndmV: IPNDMVSampler()
        case .lcm: LCMSampler()
        case .ddimTrailing: EulerAncestralSampler(eta: eta ?? 0)
        }
    }

    /// The schedule stable-diffusion.cpp pairs with the method when none is given.
    public var defaultSchedule: ScheduleKind {
        switch self {
        case .lcm: .lcm
        case .ddimTrailing: .simple
        default: .discrete
        }
    }

    /// Model evaluations for a run of `steps` steps (heun, dpm2 and dpm++2s_a take two per step
    /// but one on the last).
    public func modelEvaluations(steps: Int) -> Int {
        switch self {
        case .heun, .dpm2, .dpmpp2SAncestral: max(0, 2 * steps - 1)
        default: steps
        }
    }
}
