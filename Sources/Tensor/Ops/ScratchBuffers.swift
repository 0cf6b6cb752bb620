import Foundation

/// A process-wide pool of 64-byte aligned Float buffers that kernels borrow for the duration of
/// one tile (im2col bands, decoded weight tiles, attention score blocks).
///
/// Borrowing costs one lock/unlock; a returned buffer is reused by the next borrower that fits,
/// so steady-state inference allocates nothing per call. The pool keeps at most
/// `retainedBuffers` idle buffers (enough for every worker to hold two at once) and frees the rest.
public enum ScratchBuffers {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var idle: [ScratchBuffer] = []

    /// Idle buffers kept for reuse; more than this are freed when returned.
    static var retainedBuffers: Int { 2 * Parallel.threadCount + 2 }
    /// The largest buffer kept for reuse: what the portable kernels borrow on every product (a
    /// decoded weight tile, an im2col band).
    static let maxRetainedFloats = max(WeightMatrix.decodeTileFloats, Conv2dTuning.im2colFloats)

    /// Runs `body` with a buffer of at least `count` Floats (contents undefined), then returns the
    /// buffer to the pool. Safe to call from inside `Parallel.forEach`.
    static func withBuffer<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let buffer = take(count: count)
        defer { give(buffer) }
        return try body(buffer.pointer)
    }

    /// Frees every idle buffer (e.g. after a generation, to give memory back).
    public static func releaseAll() {
        lock.lock()
        idle.removeAll()
        lock.unlock()
    }

    /// Total Floats held by idle buffers (for tests and diagnostics).
    public static var idleCapacity: Int {
        lock.lock()
        defer { lock.unlock() }
        return idle.reduce(0) { $0 + $1.capacity }
    }

    /// The largest idle buffer's Floats (for tests).
    static var largestIdleCapacity: Int {
        lock.lock()
        defer { lock.unlock() }
        return idle.map(\.capacity).max() ?? 0
    }

    private static func take(count: Int) -> ScratchBuffer {
        lock.lock()
        // Best fit: the smallest idle buffer that is large enough, so a small borrower does not
        // occupy the one big buffer a concurrent im2col needs.
        var best = -1
        for (i, b) in idle.enumerated() where b.capacity >= count {
            if best < 0 || b.capacity < idle[best].capacity { best = i }
        }
        if best >= 0 {
            let i = best
            let b = idle.remove(at: i)
            lock.unlock()
            return b
        }
        lock.unlock()
        return ScratchBuffer(capacity: count)
    }

    private static func give(_ buffer: ScratchBuffer) {
        // One-off large borrowers (weight packing, big im2col bands) do not keep their buffers:
        // idle, they would add to the process's peak for the rest of its life.
        guard buffer.capacity <= maxRetainedFloats else { return }
        lock.lock()
        idle.append(buffer)
        if idle.count > retainedBuffers {
            // Drop the smallest: large buffers are the expensive ones to recreate.
            if let i = idle.indices.min(by: { idle[$0].capacity < idle[$1].capacity }) { idle.remove(at: i) }
        }
        lock.unlock()
    }
}

/// One aligned allocation owned by the pool.
final class ScratchBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        var raw: UnsafeMutableRawPointer?
        let bytes = self.capacity * MemoryLayout<Float>.stride
        let status = posix_memalign(&raw, 64, bytes)
        precondition(status == 0 && raw != nil, "ScratchBuffers: cannot allocate \(bytes) bytes")
        pointer = raw!.bindMemory(to: Float.self, capacity: self.capacity)
    }

    deinit { free(pointer) }
}
