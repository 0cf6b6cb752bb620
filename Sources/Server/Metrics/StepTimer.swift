/// Times sampler steps from the progress reports of one generation: a step's time is the time
/// since the previous report of the same picture. A picture's first step has no such report
/// (before it come prompt encoding or the previous picture's decoding), so it is not timed.
struct StepTimer<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    private var last: (image: Int, at: Instant)?

    /// The step of picture `image` reported at `now`; returns its time when there is one.
    mutating func report(image: Int, at now: Instant) -> Duration? {
        defer { last = (image, now) }
        guard let last, last.image == image else { return nil }
        return last.at.duration(to: now)
    }
}
