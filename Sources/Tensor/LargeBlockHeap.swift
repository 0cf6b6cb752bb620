import Foundation

/// Memory for activation-sized tensors: best fit over large anonymous mappings that hold nothing
/// else.
///
/// In glibc's heap the activations of a UNet step (a few hundred blocks of 0.25–30 MB, freed in
/// another order than allocated) share the arena with the process's small long-lived objects,
/// which pin freed blocks apart: an f32 SD 1.5 step at 512x512 grew the arena to 360–530 MB
/// (more with every step) for about 200 MB in use at once. Here a block is carved from
/// the lowest-addressed best-fitting free range and coalesced with its free neighbours when
/// freed, so the touched extent of a segment, which is what the process holds, stays close to the
/// peak of live activations. Segments are reserved as virtual memory; their pages cost memory
/// only once touched, and stay mapped for reuse (no page faults per step) until `trim()`.
final class LargeBlockHeap: @unchecked Sendable {
    static let shared = LargeBlockHeap()

    /// Blocks of at least this many bytes come from here; smaller ones from malloc.
    static let threshold = 256 << 10
    /// Block sizes are rounded to whole pages, so free ranges can be returned to the system.
    static let pageBytes = 4096
    /// Virtual size of a segment (more if one block needs it).
    static let segmentBytes = 1 << 30

    private struct Segment {
        let base: Int
        let size: Int
        /// The highest address handed out so far: pages below it may be resident.
        var touchedEnd: Int
        var end: Int { base + size }
        func contains(_ address: Int) -> Bool { address >= base && address < end }
    }

    private let lock = NSLock()
    private var segments: [Segment] = []
    /// Free ranges: start address -> size, and end address -> start (for coalescing). Ranges never
    /// span two segments, even when the mappings happen to be adjacent.
    private var freeByStart: [Int: Int] = [:]
    private var freeByEnd: [Int: Int] = [:]

    /// `bytes` rounded up to whole pages.
    static func blockSize(_ bytes: Int) -> Int { (bytes + pageBytes - 1) / pageBytes * pageBytes }

    /// A page-aligned block of at least `bytes`; a precondition failure if the system has no
    /// address space left (as malloc failing would be).
    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        let size = LargeBlockHeap.blockSize(bytes)
        lock.lock()
        defer { lock.unlock() }
        var best: (start: Int, size: Int)?
        for (start, free) in freeByStart where free >= size {
            if let b = best, free > b.size || (free == b.size && start > b.start) { continue }
            best = (start, free)
        }
        let (start, free) = best ?? mapSegment(minimum: size)
        removeFree(start: start, size: free)
        if free > size { insertFree(start: start + size, size: free - size) }
        if let i = segmentIndex(start) { segments[i].touchedEnd = max(segments[i].touchedEnd, start + size) }
        guard let pointer = UnsafeMutableRawPointer(bitPattern: start) else { preconditionFailure("LargeBlockHeap: null block") }
        return pointer
    }

    /// Gives back a block from `allocate(bytes)`; its memory stays mapped for the next block.
    func free(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        var start = Int(bitPattern: pointer)
        var size = LargeBlockHeap.blockSize(bytes)
        lock.lock()
        defer { lock.unlock() }
        guard let segment = segmentIndex(start).map({ segments[$0] }) else {
            preconditionFailure("LargeBlockHeap: \(pointer) was not allocated here")
        }
        if start > segment.base, let before = freeByEnd[start], let beforeSize = freeByStart[before] {
            removeFree(start: before, size: beforeSize)
            start = before
            size += beforeSize
        }
        if start + size < segment.end, let afterSize = freeByStart[start + size] {
            removeFree(start: start + size, size: afterSize)
            size += afterSize
        }
        insertFree(start: start, size: size)
    }

    /// Returns free memory to the system: unmaps wholly free segments and releases the pages of
    /// the other free ranges (they fault in again, zeroed, when next used). For the end of a
    /// request or a stage, not per step.
    func trim() {
        lock.lock()
        defer { lock.unlock() }
        segments.removeAll { segment in
            guard freeByStart[segment.base] == segment.size else { return false }
            removeFree(start: segment.base, size: segment.size)
            munmap(UnsafeMutableRawPointer(bitPattern: segment.base), segment.size)
            return true
        }
        for (start, size) in freeByStart {
            guard let i = segmentIndex(start) else { continue }
            let end = min(start + size, segments[i].touchedEnd)
            if end > start { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
            if start + size == segments[i].end { segments[i].touchedEnd = min(segments[i].touchedEnd, start) }
        }
    }

    /// Bytes in live blocks, bytes reserved, and bytes below the segments' touched ends (what
    /// the process may hold), for diagnostics and tests.
    var statistics: (live: Int, reserved: Int, touched: Int) {
        lock.lock()
        defer { lock.unlock() }
        let reserved = segments.reduce(0) { $0 + $1.size }
        let touched = segments.reduce(0) { $0 + $1.touchedEnd - $1.base }
        return (reserved - freeByStart.values.reduce(0, +), reserved, touched)
    }

    /// Maps a new segment and returns it as one free range.
    private func mapSegment(minimum: Int) -> (start: Int, size: Int) {
        var size = max(LargeBlockHeap.segmentBytes, LargeBlockHeap.blockSize(minimum))
        var mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if mapped == MAP_FAILED && size > LargeBlockHeap.blockSize(minimum) {
            // Strict overcommit (vm.overcommit_memory = 2) charges the whole reservation: fall
            // back to a segment of just this block, as malloc would map it.
            size = LargeBlockHeap.blockSize(minimum)
            mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        }
        guard let mapped, mapped != MAP_FAILED else { preconditionFailure("LargeBlockHeap: cannot map \(size) bytes") }
        let base = Int(bitPattern: mapped)
        segments.append(Segment(base: base, size: size, touchedEnd: base))
        insertFree(start: base, size: size)
        return (base, size)
    }

    private func segmentIndex(_ address: Int) -> Int? {
        segments.firstIndex { $0.contains(address) }
    }

    private func insertFree(start: Int, size: Int) {
        freeByStart[start] = size
        freeByEnd[start + size] = start
    }

    private func removeFree(start: Int, size: Int) {
        freeByStart[start] = nil
        freeByEnd[start + size] = nil
    }
}
