/// Align Your Steps (Sabour et al. 2024, NVIDIA): optimized 10-step schedules, resampled
/// log-linearly for other step counts.
///
/// Matches stable-diffusion.cpp `ays` for SD 1.5 and SDXL. SD 2.x uses the SD 1.5 table
/// (stable-diffusion.cpp leaves the table empty for it and reads out of bounds).
public struct AYSSchedule: NoiseSchedule {
    /// Which published table.
    public enum Variant: Sendable {
        case sd15, sdxl
    }

    public let variant: Variant

    public init(variant: Variant = .sd15) { self.variant = variant }

    /// The published 11-value tables (NVIDIA's AYS page; stable-diffusion.cpp).
    static let sd15Table: [Double] = [
        14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092,
        0.9642583904, 0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582,
    ]
    static let sdxlTable: [Double] = [
        14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141,
        0.5550693289, 0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582,
    ]

    public func sigmas(steps: Int, table: SigmaTable) -> [Float] {
        precondition(steps >= 1, "ays schedule: steps \(steps)")
        let base = variant == .sd15 ? AYSSchedule.sd15Table : AYSSchedule.sdxlTable
        var result = (steps + 1 == base.count ? base : logLinearResample(base, count: steps + 1)).map { Float($0) }
        result[steps] = 0
        return result
    }
}
