import Foundation

/// Builds a GGUF v3 file (layout: `GGUFFile.swift`) from metadata and tensors, the way ggml and
/// gguf-py write one: tensors in insertion order, each one's data padded to the alignment.
///
/// Shapes are PyTorch order, as everywhere in the engine; the writer reverses them into ggml's
/// `ne` order. Tensors can be given as encoded bytes of any GGUF type, or as `Tensor`s encoded to
/// f32, f16, bf16 or q8_0 (the Q8_0 quantizer is bit-exact with ggml's reference quantizer).
public struct GGUFWriter {
    /// Alignment of tensor data; `general.alignment` is written when it is not the default 32.
    public let alignment: Int
    private var metadataEntries: [(key: String, value: GGUFValue)] = []
    private var tensorEntries: [(name: String, dtype: DType, shape: [Int], data: [UInt8])] = []

    /// The name used in errors about tensors added to a writer.
    private static let errorFileName = "GGUFWriter"

    /// An empty file; `alignment` must be a power of two.
    public init(alignment: Int = GGUFFile.defaultAlignment) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "GGUFWriter: alignment \(alignment)")
        self.alignment = alignment
        if alignment != GGUFFile.defaultAlignment { setMetadata("general.alignment", .uint32(UInt32(alignment))) }
    }

    /// Sets `key` (replacing an earlier value; keys keep their first position).
    public mutating func setMetadata(_ key: String, _ value: GGUFValue) {
        precondition(Self.isWellTyped(value), "GGUFWriter: array '\(key)' has elements of another type")
        if let i = metadataEntries.firstIndex(where: { $0.key == key }) {
            metadataEntries[i].value = value
        } else {
            metadataEntries.append((key, value))
        }
    }

    /// Adds a tensor from its encoded bytes (`dtype.byteCount(shape:)` of them).
    /// - Throws: `WeightError.duplicateTensor`, `.unsupportedDType` (no ggml id), `.badShape`.
    public mutating func addTensor(_ name: String, dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        guard !tensorEntries.contains(where: { $0.name == name }) else {
            throw WeightError.duplicateTensor(file: Self.errorFileName, tensor: name)
        }
        guard dtype.ggmlType != nil else {
            throw WeightError.unsupportedDType(file: Self.errorFileName, tensor: name, dtype: dtype.rawValue)
        }
        guard shape.count <= GGUFFile.maximumDimensions, let size = dtype.byteCount(shape: shape) else {
            throw WeightError.badShape(
                file: Self.errorFileName, tensor: name, shape: shape,
                reason: "not representable as \(dtype) in GGUF (at most 4 dimensions, whole blocks)")
        }
        guard size == bytes.count else {
            throw WeightError.badShape(
                file: Self.errorFileName, tensor: name, shape: shape,
                reason: "\(bytes.count) bytes given, \(dtype) needs \(size)")
        }
        tensorEntries.append((name, dtype, shape, bytes))
    }

    /// Adds `tensor`, encoded as `dtype`: f32, f16, bf16 (round to nearest even) or q8_0.
    /// - Throws: `WeightError.unsupportedDType` for other dtypes, and as `addTensor(_:dtype:shape:bytes:)`.
    public mutating func addTensor(_ name: String, _ tensor: Tensor, as dtype: DType = .f32) throws {
        guard [.f32, .f16, .bf16, .q8_0].contains(dtype) else {
            throw WeightError.unsupportedDType(file: Self.errorFileName, tensor: name, dtype: dtype.rawValue)
        }
        guard let size = dtype.byteCount(shape: tensor.shape) else {
            throw WeightError.badShape(
                file: Self.errorFileName, tensor: name, shape: tensor.shape,
                reason: "innermost dimension is not a multiple of the \(dtype) block size \(dtype.blockSize)")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        tensor.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                Self.encode(s, count: src.count, as: dtype, into: d)
            }
        }
        try addTensor(name, dtype: dtype, shape: tensor.shape, bytes: bytes)
    }

    private static func encode(
        _ source: UnsafePointer<Float>, count: Int, as dtype: DType, into destination: UnsafeMutableRawPointer
    ) {
        switch dtype {
        case .f32:
            destination.copyMemory(from: source, byteCount: count * 4)
        case .f16:
            for i in 0..<count {
                destination.storeBytes(
                    of: Dequantization.floatToHalf(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        case .bf16:
            for i in 0..<count {
                destination.storeBytes(
                    of: Dequantization.floatToBFloat16(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        case .q8_0:
            QuantizedBlocks.encodeQ8_0(source, count: count, into: destination)
        default:
            preconditionFailure("GGUFWriter.encode: \(dtype)")
        }
    }

    // MARK: - Serialization

    /// Header, metadata, tensor infos and padding: everything before the data section.
    public func headerBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: Array("GGUF".utf8))
        Self.append(UInt32(3), to: &out)
        Self.append(UInt64(tensorEntries.count), to: &out)
        Self.append(UInt64(metadataEntries.count), to: &out)
        for (key, value) in metadataEntries {
            Self.append(string: key, to: &out)
            Self.append(value.type.rawValue, to: &out)
            Self.append(value: value, to: &out)
        }
        var offset = 0
        for t in tensorEntries {
            Self.append(string: t.name, to: &out)
            Self.append(UInt32(t.shape.count), to: &out)
            // PyTorch order -> ggml order (fastest first).
            for d in t.shape.reversed() { Self.append(UInt64(d), to: &out) }
            Self.append(t.dtype.ggmlType ?? 0, to: &out)
            Self.append(UInt64(offset), to: &out)
            offset += padded(t.data.count)
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: padded(out.count) - out.count))
        return out
    }

    /// The whole file in memory.
    public func serialized() -> [UInt8] {
        var out = headerBytes()
        for t in tensorEntries {
            out.append(contentsOf: t.data)
            out.append(contentsOf: [UInt8](repeating: 0, count: padded(t.data.count) - t.data.count))
        }
        return out
    }

    /// Writes the file to `path`, one tensor at a time (no second copy of the data in memory).
    /// - Throws: `WeightError.cannotOpen` if the file cannot be created or written.
    public func write(to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else {
            throw WeightError.cannotOpen(file: path, reason: "cannot create the file")
        }
        defer { try? handle.close() }
        do {
            try handle.write(contentsOf: headerBytes())
            for t in tensorEntries {
                try handle.write(contentsOf: t.data)
                try handle.write(contentsOf: [UInt8](repeating: 0, count: padded(t.data.count) - t.data.count))
            }
        } catch {
            throw WeightError.cannotOpen(file: path, reason: "write failed: \(error)")
        }
    }

    private func padded(_ n: Int) -> Int { (n + alignment - 1) & ~(alignment - 1) }

    private static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func append(string: String, to out: inout [UInt8]) {
        let utf8 = Array(string.utf8)
        append(UInt64(utf8.count), to: &out)
        out.append(contentsOf: utf8)
    }

    /// The value's payload, without its type tag.
    private static func append(value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case .uint8(let v): append(v, to: &out)
        case .int8(let v): append(v, to: &out)
        case .uint16(let v): append(v, to: &out)
        case .int16(let v): append(v, to: &out)
        case .uint32(let v): append(v, to: &out)
        case .int32(let v): append(v, to: &out)
        case .uint64(let v): append(v, to: &out)
        case .int64(let v): append(v, to: &out)
        case .float32(let v): append(v.bitPattern, to: &out)
        case .float64(let v): append(v.bitPattern, to: &out)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let s): append(string: s, to: &out)
        case .array(let elementType, let elements):
            append(elementType.rawValue, to: &out)
            append(UInt64(elements.count), to: &out)
            for e in elements { append(value: e, to: &out) }
        }
    }

    private static func isWellTyped(_ value: GGUFValue) -> Bool {
        guard case .array(let elementType, let elements) = value else { return true }
        return elements.allSatisfy { $0.type == elementType && isWellTyped($0) }
    }
}
