import CSIMD
import Foundation

/// A dense Float32 tensor: shape in PyTorch order (outermost first, NCHW for images), contiguous
/// row-major, value semantics with copy-on-write storage.
///
/// Reshape is O(1) and shares storage. Kernels reach the elements through
/// `withUnsafeBufferPointer` / `withUnsafeMutableBufferPointer`; model code never touches pointers.
public struct Tensor: @unchecked Sendable {
    /// Dimensions, outermost first.
    public private(set) var shape: [Int]
    @usableFromInline var storage: TensorStorage

    /// Number of elements (the product of `shape`; 1 for a scalar).
    @inlinable public var count: Int { storage.count }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// A tensor whose elements are left uninitialized; every kernel that uses it writes all elements.
    public init(uninitializedShape shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(count: Tensor.elementCount(shape))
    }

    /// A tensor filled with one value.
    public init(shape: [Int], repeating value: Float = 0) {
        self.init(uninitializedShape: shape)
        storage.pointer.initialize(repeating: value, count: storage.count)
    }

    /// A tensor holding `values` in row-major order.
    public init(shape: [Int], values: [Float]) {
        precondition(values.count == Tensor.elementCount(shape), "Tensor: \(values.count) values for shape \(shape)")
        self.init(uninitializedShape: shape)
        values.withUnsafeBufferPointer { storage.pointer.initialize(from: $0.baseAddress!, count: values.count) }
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }

    /// The elements in row-major order.
    public var scalars: [Float] { withUnsafeBufferPointer { Array($0) } }

    /// Element at a flat (row-major) index.
    @inlinable public subscript(flat index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "Tensor: flat index \(index) out of \(count)")
            return storage.pointer[index]
        }
        set {
            precondition(index >= 0 && index < count, "Tensor: flat index \(index) out of \(count)")
            makeUnique()
            storage.pointer[index] = newValue
        }
    }

    /// Element at a multi-dimensional index.
    public subscript(_ index: Int...) -> Float {
        get { self[flat: flatIndex(index)] }
        set { self[flat: flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "Tensor: index \(index) for shape \(shape)")
        var flat = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "Tensor: index \(index) out of shape \(shape)")
            flat = flat * n + i
        }
        return flat
    }

    /// The same elements viewed with another shape; one dimension may be -1 (inferred). O(1).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var result = self
        result.shape = Tensor.resolve(newShape, count: count)
        return result
    }

    /// The same elements viewed with another shape. O(1).
    public func reshaped(_ newShape: Int...) -> Tensor { reshaped(newShape) }

    /// Read access to the contiguous elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Write access to the contiguous elements; copies first if the storage is shared.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    @inlinable mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// Product of the dimensions; a precondition failure on negative dimensions or overflow.
    public static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            precondition(d >= 0, "Tensor: negative dimension in \(shape)")
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            precondition(!overflow, "Tensor: shape \(shape) overflows")
            n = p
        }
        return n
    }

    static func resolve(_ shape: [Int], count: Int) -> [Int] {
        let inferred = shape.indices.filter { shape[$0] == -1 }
        precondition(inferred.count <= 1, "reshape: more than one -1 in \(shape)")
        var result = shape
        if let i = inferred.first {
            let known = shape.enumerated().reduce(1) { $1.offset == i ? $0 : $0 * $1.element }
            precondition(known > 0 && count % known == 0, "reshape: \(count) elements into \(shape)")
            result[i] = count / known
        }
        precondition(elementCount(result) == count, "reshape: \(count) elements into \(shape)")
        return result
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(head)\(count > 8 ? ", ..." : "")])"
    }
}

/// Heap storage of a tensor: 64-byte aligned so SIMD loads never straddle cache lines.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    init(count: Int) {
        _ = TensorStorage.heapTuned
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw: UnsafeMutableRawPointer
        if bytes >= LargeBlockHeap.threshold {
            raw = LargeBlockHeap.shared.allocate(bytes)
        } else {
            var block: UnsafeMutableRawPointer?
            let status = posix_memalign(&block, 64, bytes)
            guard status == 0, let block else { preconditionFailure("Tensor: cannot allocate \(bytes) bytes") }
            raw = block
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    @usableFromInline func copy() -> TensorStorage {
        let result = TensorStorage(count: count)
        result.pointer.initialize(from: pointer, count: count)
        return result
    }

    deinit {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if bytes >= LargeBlockHeap.threshold {
            LargeBlockHeap.shared.free(UnsafeMutableRawPointer(pointer), bytes: bytes)
        } else {
            free(pointer)
        }
    }

    /// Gives the free memory of activation-sized tensors back to the system (see
    /// `LargeBlockHeap.trim`). For the end of a request: within one, freed blocks are reused as
    /// they are, with no page faults.
    public static func releaseUnusedMemory() {
        LargeBlockHeap.shared.trim()
    }

    /// Makes every thread allocate from one glibc arena. With an arena per worker thread the
    /// peak memory of identical runs varied by up to 1 GiB (blocks freed in one arena are not
    /// reused by another). Call it first thing in `main`, before any other thread allocates.
    public static func useSingleHeapArena() {
        #if os(Linux)
        sd_single_heap_arena()
        #endif
    }

    /// Buffers of up to a few MB that stay in malloc (scratch tiles, small tensors) are freed
    /// and allocated again at every layer. glibc serves blocks above its mmap threshold (32 MB at
    /// most) with fresh mappings, each zero-filled page by page by the kernel (about 6 % of a
    /// UNet step in page faults when activations were still malloc'd); keeping them in the heap
    /// lets freed blocks be reused as they are. Activation-sized tensors use `LargeBlockHeap`.
    private static let heapTuned: Void = {
        #if os(Linux)
        sd_keep_large_blocks_in_heap(1 << 30)
        #endif
    }()
}
