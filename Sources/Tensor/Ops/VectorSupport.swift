import SIMDMath

import Foundation

// Shared pieces for the element-wise kernels: unaligned SIMD loads/stores and the chunk sizes that
// decide when a loop is worth splitting across threads.

/// Width of the vectors used by the kernels: 16 floats = one AVX-512 register or two AVX registers.
@usableFromInline let vectorWidth = 16

/// Below this many elements a memory-bound loop (add, scale, copy) stays on one thread: spawning
/// workers costs a few microseconds, about what one core needs to stream 64K floats.
@usableFromInline let memoryBoundMinChunk = 1 << 16

/// Loops that call a transcendental function per element pay off across threads much earlier.
@usableFromInline let transcendentalMinChunk = 1 << 12

/// Loads 16 floats starting at `p + i`; storage is 64-byte aligned but offsets inside rows are not.
@inline(__always) func loadVector(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
}

/// Stores 16 floats starting at `p + i` (no alignment requirement).
@inline(__always) func storeVector(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD16<Float>.self)
}

extension Tensor {
    /// Normalizes a possibly negative axis (`-1` = last) and checks it against the rank.
    @usableFromInline func normalizedAxis(_ axis: Int, _ op: String) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "\(op): axis \(axis) out of range for shape \(shape)")
        return a
    }

    /// Returns a new tensor of `shape` whose elements are produced by `body(input, output)`,
    /// reading from `self`. Used by every op that writes a fresh output.
    @inline(__always) func producing(
        _ shape: [Int], _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    ) -> Tensor {
        var out = Tensor(uninitializedShape: shape)
        out.withUnsafeMutableBufferPointer { o in
            withUnsafeBufferPointer { i in body(i.baseAddress!, o.baseAddress!) }
        }
        return out
    }
}

// Lane selection through bit masks. The standard library's `pointwiseMin`/`pointwiseMax`,
// `clamped` and `replace(with:where:)` compile to per-lane loops through the stack on this
// toolchain (measured: e^x went from ~1 to ~10 ns/element), while comparisons and bitwise
// operations lower to single vector instructions.

/// Lane-wise a where mask else b (see `SIMDMath.select`).
@inline(__always) func select(
    _ mask: SIMDMask<SIMD16<Int32>>, _ a: SIMD16<Float>, _ b: SIMD16<Float>
) -> SIMD16<Float> { SIMDMath.select(mask, a, b) }

/// Lane-wise maximum.
@inline(__always) func vectorMax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { SIMDMath.max(a, b) }

/// Lane-wise minimum.
@inline(__always) func vectorMin(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { SIMDMath.min(a, b) }
