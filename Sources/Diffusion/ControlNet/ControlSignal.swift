import Foundation
import Tensor

/// A ControlNet with its encoded control picture, strength and active steps: what one generation
/// hands its network (`NetworkExtras.control`) so that every evaluation gets the residuals.
///
/// The step window follows diffusers' `control_guidance_start` / `control_guidance_end`: step i
/// of n is steered when i / n >= start and (i + 1) / n <= end. The driver advances the step
/// (`StepCursor`) as the sampler reports steps, so every evaluation inside a step (Heun's second,
/// DPM2's midpoint) is steered or not with its step.
public struct ControlSignal: Sendable {
    public let controlNet: ControlNet
    /// `ControlNet.encodeHint` of the control picture [1, C0, h, w].
    public let hint: Tensor
    public let strength: Float
    /// Steps (0-based) that are steered.
    public let activeSteps: Range<Int>
    let cursor: StepCursor

    /// - Parameters:
    ///   - start, end: fractions of `stepCount` (0 and 1 steer every step).
    public init(controlNet: ControlNet, hint: Tensor, strength: Float, start: Float = 0, end: Float = 1, stepCount: Int) {
        self.controlNet = controlNet
        self.hint = hint
        self.strength = strength
        let n = Float(stepCount)
        let steered = (0..<stepCount).filter { Float($0) / n >= start && Float($0 + 1) / n <= end }
        activeSteps = (steered.first ?? 0)..<((steered.last ?? -1) + 1)
        cursor = StepCursor()
    }

    /// The step the next evaluations belong to.
    public var step: Int {
        get { cursor.value }
        nonmutating set { cursor.value = newValue }
    }

    /// The residuals for this evaluation, or nil outside the active steps (or at strength 0).
    func residuals(_ x: Tensor, timesteps: [Float], conditioning: Conditioning) -> ControlResiduals? {
        guard strength != 0 && activeSteps.contains(step) else { return nil }
        return controlNet.residuals(
            x, timesteps: timesteps, context: conditioning.context, added: conditioning.added, hint: hint, strength: strength)
    }
}

/// The sampler's current step, shared by the driver (which advances it) and the signal's copies.
final class StepCursor: @unchecked Sendable {
    private let lock = NSLock()
    private var step = 0

    var value: Int {
        get { lock.withLock { step } }
        set { lock.withLock { step = newValue } }
    }
}
