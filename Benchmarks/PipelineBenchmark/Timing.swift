import Foundation

/// Wall-clock seconds of repeated runs of one item, and their summary.
struct Timing {
    /// Seconds of each timed run (warm-up runs excluded).
    var seconds: [Double] = []

    var min: Double { seconds.min() ?? .nan }
    var max: Double { seconds.max() ?? .nan }
    /// The middle run, or the mean of the two middle runs for an even count.
    var median: Double {
        let sorted = seconds.sorted()
        guard !sorted.isEmpty else { return .nan }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Runs `body` once and records its duration; returns its result.
    mutating func measure<R>(_ body: () throws -> R) rethrows -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        return result
    }

    /// Duration of one run of `body`.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        var timing = Timing()
        try timing.measure(body)
        return timing.seconds[0]
    }
}
