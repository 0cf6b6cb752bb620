import CBLAS
import Dispatch
import Foundation

/// The engine's one thread pool.
///
/// Every multithreaded kernel splits its work with `Parallel.forEach`; OpenBLAS is pinned to one
/// thread and GEMMs are split across our workers instead, so the two pools never oversubscribe the
/// cores and BLAS may be called from inside a parallel loop.
public enum Parallel {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var configuredThreads = ProcessInfo.processInfo.activeProcessorCount
    private static let blasPinned: Void = { openblas_set_num_threads(1) }()

    /// A worker count for the current task only (see `withThreadCount`).
    @TaskLocal private static var taskThreads: Int?

    /// Number of workers used by kernels: the current task's override if any, else the
    /// process-wide setting (default: the machine's active cores).
    public static var threadCount: Int {
        get {
            if let taskThreads { return taskThreads }
            lock.lock()
            defer { lock.unlock() }
            return configuredThreads
        }
        set {
            lock.lock()
            configuredThreads = max(1, newValue)
            lock.unlock()
        }
    }

    /// Runs `body` with `threadCount` workers for the kernels it calls from the current task,
    /// leaving the process-wide setting (and concurrent tasks) untouched.
    public static func withThreadCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        try $taskThreads.withValue(max(1, count)) { try body() }
    }

    /// Pins OpenBLAS to a single thread; called before any BLAS use.
    @inline(__always) static func prepareBLAS() { _ = blasPinned }

    /// Splits `0..<count` into at most `threadCount` contiguous chunks of at least `minChunk`
    /// items and runs `body` on each chunk, concurrently. Returns when all chunks are done.
    public static func forEach(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threadCount, max(1, count / max(1, minChunk)))
        if chunks == 1 {
            body(0..<count)
            return
        }
        // Workers are not part of the calling task: carry its kernel level over explicitly.
        let level = CPUKernels.override
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = count * c / chunks
            let end = count * (c + 1) / chunks
            guard start < end else { return }
            if let level {
                CPUKernels.$override.withValue(level) { body(start..<end) }
            } else {
                body(start..<end)
            }
        }
    }
}
