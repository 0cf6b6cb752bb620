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
    }

    private let lock = NSLock()
    private var segments: [Segment] = []
    /// Free ranges: start address -> size, and end address -> start (for coalescing).
    private var freeByStart: [Int: Int] = [:]
    private var freeByEnd: [Int: Int] = [:]
    /// Start addresses of segments and their ends: ranges never merge across them.
    private var segmentStarts: Set<Int> = []
    private var segmentEnds: Set<Int> = []
    /// Per segment base: the highest address ever handed out (pages below it may be resident).
    private var touchedEnd: [Int: Int] = [:]

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
        if best == nil {
            let segment = mapSegment(minimum: size)
            best = (segment.base, segment.size)
        }
        guard let (start, free) = best else { preconditionFailure("LargeBlockHeap: no block") }
        removeFree(start: start, size: free)
        if free > size { insertFree(start: start + size, size: free - size) }
        if let s = segmentContaining(start) { touchedEnd[s.base] = max(touchedEnd[s.base] ?? s.base, start + size) }
        guard let pointer = UnsafeMutableRawPointer(bitPattern: start) else { preconditionFailure("LargeBlockHeap: null block") }
        return pointer
    }

    /// Gives back a block from `allocate(bytes)`; its memory stays mapped for the next block.
    func free(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        var start = Int(bitPattern: pointer)
        var size = LargeBlockHeap.blockSize(bytes)
        lock.lock()
        defer { lock.unlock() }
        if !segmentStarts.contains(start), let before = freeByEnd[start], let beforeSize = freeByStart[before] {
            removeFree(start: before, size: beforeSize)
            start = before
            size += beforeSize
        }
        let end = start + size
        if !segmentEnds.contains(end), let afterSize = freeByStart[end] {
            removeFree(start: end, size: afterSize)
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
        for segment in segments {
            guard freeByStart[segment.base] == segment.size else { continue }
            removeFree(start: segment.base, size: segment.size)
            munmap(UnsafeMutableRawPointer(bitPattern: segment.base), segment.size)
            segmentStarts.remove(segment.base)
            segmentEnds.remove(segment.base + segment.size)
            touchedEnd[segment.base] = nil
        }
        segments.removeAll { segmentStarts.contains($0.base) == false }
        for (start, size) in freeByStart {
            guard let segment = segmentContaining(start) else { continue }
            let end = min(start + size, touchedEnd[segment.base] ?? segment.base)
            if end > start { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
            if start + size == segment.base + segment.size { touchedEnd[segment.base] = min(touchedEnd[segment.base] ?? start, start) }
        }
    }

    /// Bytes in live blocks, bytes reserved, and bytes below the segments' touched ends (what
    /// the process may hold), for diagnostics and tests.
    var statistics: (live: Int, reserved: Int, touched: Int) {
        lock.lock()
        defer { lock.unlock() }
        let reserved = segments.reduce(0) { $0 + $1.size }
        let touched = segments.reduce(0) { $0 + (touchedEnd[$1.base] ?? $1.base) - $1.base }
        return (reserved - freeByStart.values.reduce(0, +), reserved, touched)
    }

    private func mapSegment(minimum: Int) -> Segment {
        var size = max(LargeBlockHeap.segmentBytes, LargeBlockHeap.blockSize(minimum))
        var mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if mapped == MAP_FAILED && size > LargeBlockHeap.blockSize(minimum) {
            // Strict overcommit (vm.overcommit_memory = 2) charges the whole reservation: fall
            // back to a segment of just this block, as malloc would map it.
            size = LargeBlockHeap.blockSize(minimum)
            mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        }
        guard let mapped, mapped != MAP_FAILED else { preconditionFailure("LargeBlockHeap: cannot map \(size) bytes") }
        let segment = Segment(base: Int(bitPattern: mapped), size: size)
        segments.append(segment)
        segmentStarts.insert(segment.base)
        segmentEnds.insert(segment.base + size)
        touchedEnd[segment.base] = segment.base
        insertFree(start: segment.base, size: size)
        return segment
    }

    private func segmentContaining(_ address: Int) -> Segment? {
        segments.first { address >= $0.base && address < $0.base + $0.size }
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
