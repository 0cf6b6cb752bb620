/// A tensor as it sits in a weight file: dtype, shape (PyTorch order) and its bytes inside the
/// file's memory mapping. Nothing is decoded until asked, so a loaded model costs no more memory
/// than its weights on disk.
public struct StoredTensor: @unchecked Sendable {
    /// The tensor's name in its file.
    public let name: String
    /// How the elements are encoded.
    public let dtype: DType
    /// Dimensions, outermost first.
    public let shape: [Int]
    /// The encoded elements, inside `file`'s mapping.
    public let bytes: UnsafeRawBufferPointer
    /// The mapping that owns `bytes`; kept alive by this value.
    public let file: MappedFile

    /// Creates a view; readers have already checked that `bytes` is exactly `shape` × `dtype`.
    public init(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, file: MappedFile) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.file = file
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// The elements in place, for an f32 tensor that sits Float-aligned in its mapping (any
    /// safetensors file whose header length is a multiple of 4, as its writers pad it; GGUF
    /// aligns every tensor); nil otherwise. Valid while this value (and so its file) lives.
    public var alignedFloat32Elements: UnsafePointer<Float>? {
        guard dtype == .f32, let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 else {
            return nil
        }
        return base.assumingMemoryBound(to: Float.self)
    }

    /// Decodes every element to Float32 (dequantizing block formats exactly as ggml does).
    /// - Throws: `WeightError.unsupportedDType` for `bool` tensors.
    public func toTensor() throws -> Tensor {
        guard dtype.isNumeric else {
            throw WeightError.unsupportedDType(file: file.path, tensor: name, dtype: dtype.rawValue)
        }
        var result = Tensor(uninitializedShape: shape)
        result.withUnsafeMutableBufferPointer { out in
            guard let dst = out.baseAddress, let src = bytes.baseAddress else { return }
            // Large tensors are decoded in parallel, a whole number of blocks per chunk.
            let blocks = count / dtype.blockSize
            Parallel.forEach(blocks, minChunk: max(1, 65536 / dtype.blockSize)) { range in
                Dequantization.decode(
                    dtype, from: src + range.lowerBound * dtype.blockBytes, count: range.count * dtype.blockSize,
                    into: dst + range.lowerBound * dtype.blockSize)
            }
        }
        return result
    }

    /// Drops this tensor's pages of the file mapping from memory (after a packed copy was made);
    /// reading it again faults them back in from the file.
    public func releaseFilePages() {
        releaseFilePages(elements: 0..<count)
    }

    /// Drops the file pages wholly inside the elements `range` (block-aligned, as for `decode`).
    public func releaseFilePages(elements range: Range<Int>) {
        guard let base = bytes.baseAddress, let fileBase = file.bytes.baseAddress, !range.isEmpty else { return }
        let start = base - fileBase + range.lowerBound / dtype.blockSize * dtype.blockBytes
        file.releasePages(start..<start + range.count / dtype.blockSize * dtype.blockBytes)
    }

    /// Decodes the elements `range` (which starts and ends on block boundaries) into `destination`.
    /// Layers use this to dequantize one tile of a weight at a time.
    public func decode(elements range: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        precondition(
            range.lowerBound % dtype.blockSize == 0 && range.count % dtype.blockSize == 0 && range.upperBound <= count,
            "decode: range \(range) of '\(name)' (\(dtype), \(shape)) is not block-aligned")
        guard let src = bytes.baseAddress, !range.isEmpty else { return }
        Dequantization.decode(
            dtype, from: src + range.lowerBound / dtype.blockSize * dtype.blockBytes, count: range.count,
            into: destination)
    }
}
