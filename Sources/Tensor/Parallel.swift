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

    /// A thread count for the current task only (see `withThreadCount`).
    @TaskLocal static var taskThreadCount: Int?

    /// Number of workers used by kernels (default: the machine's active cores); inside
    /// `withThreadCount`, that count.
    public static var threadCount: Int {
        get {
            if let taskThreadCount { return taskThreadCount }
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

    /// Runs `body` with `threads` workers for the calling task only, leaving the process-wide
    /// count alone: tests that compare thread counts must not change it under other work running
    /// concurrently in the same process (a pipeline run would switch counts between its ops).
    public static func withThreadCount<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        try $taskThreadCount.withValue(max(1, threads), operation: body)
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
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = count * c / chunks
            let end = count * (c + 1) / chunks
            if start < end { body(start..<end) }
        }
    }
}
