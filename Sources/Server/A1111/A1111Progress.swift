import Foundation

/// `GET /sdapi/v1/progress`: A1111's `ProgressResponse` for the oldest running A1111 job. A1111
/// runs a request's batches as its `job_count` jobs; here every picture of a request is one job
/// (`job_count` = pictures, `job_no` = the current one, 0-based), and `sampling_step` counts the
/// steps done in it.
struct A1111Progress: Codable, Equatable, Sendable {
    struct State: Codable, Equatable, Sendable {
        var skipped = false
        var interrupted = false
        var stoppingGeneration = false
        var job = ""
        var jobCount = 0
        var jobTimestamp = "0"
        var jobNo = 0
        var samplingStep = 0
        var samplingSteps = 0

        enum CodingKeys: String, CodingKey {
            case skipped, interrupted, job
            case stoppingGeneration = "stopping_generation"
            case jobCount = "job_count"
            case jobTimestamp = "job_timestamp"
            case jobNo = "job_no"
            case samplingStep = "sampling_step"
            case samplingSteps = "sampling_steps"
        }
    }

    var progress: Double
    var etaRelative: Double
    var state: State
    /// A small PNG of the current estimate (one pixel per latent cell), base64; null before the
    /// first step and with `skip_current_image=true`.
    var currentImage: String?
    var textinfo: String?

    enum CodingKeys: String, CodingKey {
        case progress, state, textinfo
        case etaRelative = "eta_relative"
        case currentImage = "current_image"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(progress, forKey: .progress)
        try c.encode(etaRelative, forKey: .etaRelative)
        try c.encode(state, forKey: .state)
        // Explicit nulls: clients test `current_image` against null.
        try c.encode(currentImage, forKey: .currentImage)
        try c.encode(textinfo, forKey: .textinfo)
    }

    /// Nothing running: A1111's answer between jobs.
    static let idle = A1111Progress(progress: 0, etaRelative: 0, state: State(), currentImage: nil, textinfo: nil)

    /// A running job's progress by A1111's formula (0.01 so that a started job is never 0, plus
    /// the pictures done and the current one's share), with our estimate of the seconds left.
    static func running(
        _ step: JobProgress?, pictures: Int, steps: Int, job: String, started: Date, skipped: Bool, interrupted: Bool, preview: Bool
    ) -> A1111Progress {
        var state = State(skipped: skipped, interrupted: interrupted, job: job, jobTimestamp: A1111Info.timestamp(started))
        state.jobCount = step?.images ?? pictures
        state.jobNo = (step?.image ?? 1) - 1
        state.samplingStep = step?.step ?? 0
        state.samplingSteps = step?.steps ?? steps
        var value = 0.01 + Double(state.jobNo) / Double(max(state.jobCount, 1))
        if state.samplingSteps > 0 {
            value += Double(state.samplingStep) / Double(state.samplingSteps) / Double(max(state.jobCount, 1))
        }
        return A1111Progress(
            progress: min(value, 1), etaRelative: step?.etaSeconds ?? 0, state: state, currentImage: preview ? step?.preview : nil, textinfo: nil)
    }
}
