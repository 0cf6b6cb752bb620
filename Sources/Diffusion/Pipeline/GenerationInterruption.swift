/// What a `progress` callback throws to end a picture early and keep it, as AUTOMATIC1111's
/// "skip" and "interrupt" do: the sampler stops after the step just reported, and the picture is
/// decoded from that step's x0 estimate (A1111 decodes its sampler's last `denoised`). Any other
/// error thrown from `progress` (a cancel) discards the whole run.
public enum GenerationInterruption: Error, Equatable, Sendable {
    /// End the current picture; the following ones of the request still run.
    case skipPicture
    /// End the current picture and return the pictures made so far; no further picture runs.
    case stop
}
