import Foundation

/// Where a whole image's time went, from the sampler's step callbacks: the time to the first
/// step's end (prompt encoding plus one step), the later steps, and what follows the last step
/// (the VAE decode and the PNG).
struct ImagePhases: CustomStringConvertible {
    let firstStep: Double
    /// Durations of steps 2...n.
    let laterSteps: [Double]
    let afterSteps: Double

    /// `nil` without step callbacks. Times are `DispatchTime` nanoseconds.
    init?(start: UInt64, stepEnds: [UInt64], end: UInt64) {
        guard let first = stepEnds.first, let last = stepEnds.last else { return nil }
        firstStep = Double(first - start) / 1e9
        laterSteps = zip(stepEnds.dropFirst(), stepEnds).map { Double($0 - $1) / 1e9 }
        afterSteps = Double(end - last) / 1e9
    }

    var description: String {
        var timing = Timing()
        timing.seconds = laterSteps
        let later = laterSteps.isEmpty ? "" : String(format: ", later steps %.3f s median (%.3f–%.3f)", timing.median, timing.min, timing.max)
        return String(format: "encoding + first step %.3f s%@, decode + PNG %.3f s", firstStep, later, afterSteps)
    }
}
