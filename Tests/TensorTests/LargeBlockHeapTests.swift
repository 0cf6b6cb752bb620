import Foundation
import TestSupport
import Testing
@testable import Tensor

/// The allocator behind activation-sized tensors (`LargeBlockHeap`), on private instances so the
/// figures do not depend on other tests' tensors.
@Suite struct LargeBlockHeapTests {
    @Test func blocksArePageAlignedDisjointAndKeepTheirContents() {
        let heap = LargeBlockHeap()
        let sizes = [300_000, 1 << 20, 5_000_000, 262_144, 777_777]
        let blocks = sizes.map { heap.allocate($0) }
        for (i, (block, size)) in zip(blocks, sizes).enumerated() {
            #expect(Int(bitPattern: block) % LargeBlockHeap.pageBytes == 0)
            block.initializeMemory(as: UInt8.self, repeating: UInt8(i + 1), count: size)
        }
        let ranges = zip(blocks, sizes).map { Int(bitPattern: $0)..<Int(bitPattern: $0) + $1 }
        for i in ranges.indices {
            for j in ranges.indices where j > i { #expect(!ranges[i].overlaps(ranges[j])) }
        }
        for (i, (block, size)) in zip(blocks, sizes).enumerated() {
            let bytes = UnsafeBufferPointer(start: block.assumingMemoryBound(to: UInt8.self), count: size)
            #expect(bytes.allSatisfy { $0 == UInt8(i + 1) })
        }
        for (block, size) in zip(blocks, sizes) { heap.free(block, bytes: size) }
        #expect(heap.statistics.live == 0)
    }

    @Test func freedNeighboursCoalesceAndTheLowestBestFitIsReused() {
        let heap = LargeBlockHeap()
        let mb = 1 << 20
        let a = heap.allocate(mb), b = heap.allocate(2 * mb), c = heap.allocate(mb)
        #expect(Int(bitPattern: b) == Int(bitPattern: a) + mb && Int(bitPattern: c) == Int(bitPattern: b) + 2 * mb)
        heap.free(a, bytes: mb)
        heap.free(b, bytes: 2 * mb)
        // A and B merged: a 3 MB block fits where they were, below C.
        let merged = heap.allocate(3 * mb)
        #expect(merged == a)
        // Best fit: a 1 MB hole between two live blocks takes a 1 MB request, not the large free
        // range above them.
        let d = heap.allocate(mb), e = heap.allocate(mb), f = heap.allocate(mb)
        heap.free(e, bytes: mb)
        #expect(heap.allocate(mb) == e)
        for (block, size) in [(merged, 3 * mb), (c, mb), (d, mb), (e, mb), (f, mb)] { heap.free(block, bytes: size) }
        #expect(heap.statistics.live == 0)
    }

    /// A UNet-like workload (blocks of many sizes, freed out of order, for many rounds): the
    /// touched extent, which is what the process holds, stays near the peak of live bytes.
    @Test func touchedExtentStaysNearThePeakOfLiveBlocks() {
        let heap = LargeBlockHeap()
        var state: UInt64 = 12345
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        var live: [(UnsafeMutableRawPointer, Int)] = []
        var liveBytes = 0, peak = 0
        for _ in 0..<20 {
            // One "step": a stack of long-lived skips plus short-lived temporaries of a few sizes.
            for _ in 0..<60 {
                let size = [10_485_760, 5_242_880, 2_621_440, 655_360, 21_000_000][next(5)]
                let block = heap.allocate(size)
                live.append((block, size))
                liveBytes += LargeBlockHeap.blockSize(size)
                peak = max(peak, liveBytes)
                if live.count > 12 {
                    let (victim, victimSize) = live.remove(at: next(live.count))
                    heap.free(victim, bytes: victimSize)
                    liveBytes -= LargeBlockHeap.blockSize(victimSize)
                }
            }
            for (block, size) in live { heap.free(block, bytes: size) }
            live.removeAll()
            liveBytes = 0
        }
        let touched = heap.statistics.touched
        #expect(touched >= peak)
        #expect(Double(touched) <= 1.3 * Double(peak), "touched \(touched >> 20) MB for a peak of \(peak >> 20) MB")
    }

    @Test func trimUnmapsWhollyFreeSegments() {
        let heap = LargeBlockHeap()
        let big = heap.allocate(LargeBlockHeap.segmentBytes + 1)  // a segment of its own
        let small = heap.allocate(1 << 20)
        #expect(heap.statistics.reserved >= 2 * LargeBlockHeap.segmentBytes)
        heap.free(big, bytes: LargeBlockHeap.segmentBytes + 1)
        heap.trim()
        #expect(heap.statistics.reserved == LargeBlockHeap.segmentBytes)
        #expect(heap.statistics.live == LargeBlockHeap.blockSize(1 << 20))
        // The remaining segment still serves blocks after its free pages were released.
        let again = heap.allocate(3 << 20)
        again.initializeMemory(as: UInt8.self, repeating: 7, count: 3 << 20)
        #expect(again.load(fromByteOffset: (3 << 20) - 1, as: UInt8.self) == 7)
        heap.free(again, bytes: 3 << 20)
        heap.free(small, bytes: 1 << 20)
        heap.trim()
        #expect(heap.statistics.reserved == 0 && heap.statistics.touched == 0)
    }

    /// Tensors at and above the threshold live in the shared heap and keep Tensor semantics.
    @Test func largeTensorsKeepValueSemantics() {
        let count = LargeBlockHeap.threshold / 4 + 3
        var a = Tensor(shape: [count], repeating: 1.5)
        let b = a
        a[flat: count - 1] = 2
        #expect(b[flat: count - 1] == 1.5 && a[flat: count - 1] == 2)
        a.withUnsafeBufferPointer { #expect(Int(bitPattern: $0.baseAddress) % LargeBlockHeap.pageBytes == 0) }
    }
}

@Suite struct ScratchBuffersTests {
    /// A one-off large borrower (weight packing) must not leave its buffer in the pool, where it
    /// would count in the process's memory for the rest of its life.
    @Test func oneOffLargeBuffersAreNotRetained() {
        ScratchBuffers.withBuffer(count: ScratchBuffers.maxRetainedFloats + 1) { $0[0] = 1 }
        #expect(ScratchBuffers.largestIdleCapacity <= ScratchBuffers.maxRetainedFloats)
    }
}
