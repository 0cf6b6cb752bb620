import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// Cancellation inside a long prompt's encode (issue 21: it used to take effect only after it).
@Suite(.serialized, .float32Arithmetic) struct GenerationCancellationTests {
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func next() -> Int { lock.withLock { count += 1; return count } }
        var value: Int { lock.withLock { count } }
    }

    /// A 9-chunk prompt is encoded in groups of 4: asked to stop at the second check, the
    /// generation stops there, before the prompt is fully encoded.
    @Test func aLongPromptsEncodeStopsBetweenChunkGroups() throws {
        let p = try #require(PipelineTests.pipeline)
        var o = GenerationOptions(prompt: Array(repeating: "a red circle on a blue background", count: 80).joined(separator: ", "))
        o.steps = 1
        let calls = Counter()
        let cancellation = GenerationCancellation { calls.next() >= 2 }
        var thrown: (any Error)?
        do { _ = try cancellation.withValue { try p.generate(o) } } catch { thrown = error }
        #expect(thrown as? GenerationError == .cancelled)
        #expect(calls.value == 2)
    }

    /// Encoding in groups gives what one pass gives, bit for bit.
    @Test func groupedEncodeEqualsOnePass() throws {
        let p = try #require(PipelineTests.pipeline)
        let encoder = p.textEncoder
        let chunks = (0..<9).map { c in (0..<77).map { 49406 - (c * 31 + $0 * 7) % 1000 } }
        let grouped = try encoder.encode(chunks, skip: 1, finalLayerNorm: true, pooled: true)
        let whole = encoder(chunks, skip: 1, finalLayerNorm: true, pooled: true)
        #expect(grouped.hidden.shape == whole.hidden.shape && grouped.hidden.scalars == whole.hidden.scalars)
        #expect(grouped.pooled?.scalars == whole.pooled?.scalars)
    }
}
