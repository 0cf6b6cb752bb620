// GGUF, versions 2 and 3 (ggml's gguf.h; v1 used 32-bit counts and is rejected). Little-endian,
// packed (no padding between fields):
//
//   header       u32 magic "GGUF" (bytes 47 47 55 46), u32 version, u64 tensor_count, u64 kv_count
//   kv_count ×   string key, u32 value_type, value
//   tensor_count × tensor info:
//                string name, u32 n_dims, u64 ne[n_dims] (ggml order: fastest-varying first),
//                u32 ggml_type, u64 offset (relative to the data section, a multiple of ALIGNMENT)
//   padding      zeros up to the next multiple of ALIGNMENT
//   data         tensor bytes; tensor byte size = ne0 / block_size × block_bytes × ne1 × ne2 × ne3
//
//   string       u64 length, UTF-8 bytes (no terminator)
//   value types  0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (1 byte), 8 string,
//                9 array (u32 element_type, u64 count, elements; arrays may nest), 10 u64, 11 i64,
//                12 f64
//   ALIGNMENT    metadata `general.alignment` (u32, a power of two) when present, else 32.
//
// The reader reverses `ne` once, here, so every shape in the engine is PyTorch order (outermost
// first): a numpy [2, 3] array written by gguf-py is stored as ne = [3, 2] and comes back as [2, 3].
//
// Untrusted input: every read is bounds-checked (`ByteCursor`); every count is checked against
// the bytes left before any allocation, so memory use is bounded by a small multiple of the file
// size; arrays nest at most `maximumArrayDepth` deep. Tensor data must lie inside the file,
// aligned, without overlap, and be exactly shape × dtype bytes.

/// A GGUF file: its metadata and views of its tensors inside a read-only memory mapping.
///
/// Only the header is parsed; tensor data stays in the mapping until a `StoredTensor` is decoded.
public final class GGUFFile: Sendable {
    /// The mapping every tensor points into.
    public let file: MappedFile
    /// The format version (2 or 3).
    public let version: Int
    /// Every metadata key/value pair.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensors by name; shapes are PyTorch order.
    public let tensors: [String: StoredTensor]
    /// Tensor names in file order.
    public let tensorNames: [String]
    /// Alignment of tensor data (`general.alignment`, default 32).
    public let alignment: Int
    /// File offset of the data section.
    public let dataOffset: Int

    /// The alignment used when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// ggml's `GGML_MAX_DIMS`: ggml itself rejects tensors with more dimensions.
    public static let maximumDimensions = 4
    /// How deep arrays of arrays may nest (ggml accepts no nesting; gguf-py writes some).
    public static let maximumArrayDepth = 8

    /// Maps and parses the file at `path`.
    /// - Throws: `WeightError` (`cannotOpen`, `truncated`, `badMagic`, `unsupportedVersion`,
    ///   `badHeader`, `badShape`, `unsupportedDType`, `badOffsets`, `overlappingTensors`,
    ///   `duplicateTensor`) naming the file and, where there is one, the tensor.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Parses a file already mapped (or held in memory).
    /// - Throws: `WeightError`, as `init(path:)`.
    public init(file: MappedFile) throws {
        self.file = file
        let name = file.path
        var cursor = ByteCursor(bytes: file.bytes, file: name)

        guard try cursor.read(UInt32.self) == 0x4655_4747 else { throw WeightError.badMagic(file: name) }
        let version = try cursor.read(UInt32.self)
        guard version == 2 || version == 3 else {
            throw WeightError.unsupportedVersion(file: name, version: Int(version))
        }
        self.version = Int(version)

        // The smallest tensor info is a name length, n_dims, type and offset (n_dims = 0); the
        // smallest KV pair is a key length, a type tag and a one-byte value.
        let rawTensorCount = try cursor.read(UInt64.self)
        let rawKVCount = try cursor.read(UInt64.self)
        let kvCount = try cursor.checkCount(rawKVCount, minimumBytes: 13)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(kvCount)
        for _ in 0..<kvCount {
            let key = try Self.readName(&cursor, what: "metadata key")
            let tag = try cursor.read(UInt32.self)
            let value = try Self.readValue(&cursor, typeTag: tag, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw WeightError.badHeader(file: name, reason: "metadata key '\(key)' appears twice")
            }
            keys.append(key)
        }
        self.metadata = metadata
        self.metadataKeys = keys

        let alignment = try Self.alignment(from: metadata, file: name)
        self.alignment = alignment

        let tensorCount = try cursor.checkCount(rawTensorCount, minimumBytes: 24)
        var infos: [TensorInfo] = []
        infos.reserveCapacity(tensorCount)
        for _ in 0..<tensorCount {
            infos.append(try Self.readTensorInfo(&cursor, alignment: alignment))
        }

        cursor.align(to: alignment)
        dataOffset = cursor.offset
        (tensors, tensorNames) = try Self.validate(infos, dataOffset: dataOffset, file: file)
    }

    /// A tensor info as read, before its data range is checked.
    private struct TensorInfo {
        var name: String
        var dtype: DType
        var shape: [Int]
        var byteCount: Int
        var offset: Int
    }

    // MARK: - Header fields

    /// Reads a string that must be valid UTF-8 (keys and tensor names identify things, so a
    /// repaired spelling could silently collide with another).
    private static func readName(_ cursor: inout ByteCursor, what: String) throws -> String {
        let length = try cursor.checkCount(try cursor.read(UInt64.self), minimumBytes: 1)
        let at = cursor.offset
        let raw = try cursor.readBytes(length)
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw WeightError.badHeader(file: cursor.file, reason: "\(what) at byte \(at) is not valid UTF-8")
        }
        return s
    }

    private static func readValue(
        _ cursor: inout ByteCursor, typeTag: UInt32, key: String, depth: Int
    ) throws -> GGUFValue {
        guard let type = GGUFValueType(rawValue: typeTag) else {
            throw WeightError.badHeader(file: cursor.file, reason: "metadata '\(key)': unknown value type \(typeTag)")
        }
        switch type {
        case .uint8: return .uint8(try cursor.read(UInt8.self))
        case .int8: return .int8(try cursor.read(Int8.self))
        case .uint16: return .uint16(try cursor.read(UInt16.self))
        case .int16: return .int16(try cursor.read(Int16.self))
        case .uint32: return .uint32(try cursor.read(UInt32.self))
        case .int32: return .int32(try cursor.read(Int32.self))
        case .uint64: return .uint64(try cursor.read(UInt64.self))
        case .int64: return .int64(try cursor.read(Int64.self))
        case .float32: return .float32(try cursor.readFloat())
        case .float64: return .float64(try cursor.readDouble())
        case .bool: return .bool(try cursor.read(UInt8.self) != 0)
        case .string:
            // Values are free text (tokenizer pieces in LLM files can be byte fragments), so
            // invalid UTF-8 is repaired with U+FFFD rather than rejected.
            let length = try cursor.checkCount(try cursor.read(UInt64.self), minimumBytes: 1)
            return .string(String(decoding: try cursor.readBytes(length), as: UTF8.self))
        case .array:
            guard depth < maximumArrayDepth else {
                throw WeightError.badHeader(
                    file: cursor.file, reason: "metadata '\(key)': arrays nested deeper than \(maximumArrayDepth)")
            }
            let elementTag = try cursor.read(UInt32.self)
            guard let elementType = GGUFValueType(rawValue: elementTag) else {
                throw WeightError.badHeader(
                    file: cursor.file, reason: "metadata '\(key)': unknown array element type \(elementTag)")
            }
            let count = try cursor.checkCount(
                try cursor.read(UInt64.self), minimumBytes: elementType.minimumEncodedBytes)
            var elements: [GGUFValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count {
                elements.append(try readValue(&cursor, typeTag: elementTag, key: key, depth: depth + 1))
            }
            return .array(elementType: elementType, elements)
        }
    }

    /// `general.alignment`: any integer type is accepted (the spec says u32), but it must be a
    /// power of two; ggml rejects 0 and other values the same way.
    private static func alignment(from metadata: [String: GGUFValue], file: String) throws -> Int {
        guard let value = metadata["general.alignment"] else { return defaultAlignment }
        guard let a = value.intValue, a > 0, a <= 1 << 30, a & (a - 1) == 0 else {
            throw WeightError.badHeader(
                file: file, reason: "general.alignment \(value) is not a power of two between 1 and 2^30")
        }
        return a
    }

    private static func readTensorInfo(_ cursor: inout ByteCursor, alignment: Int) throws -> TensorInfo {
        let file = cursor.file
        let name = try readName(&cursor, what: "tensor name")
        let dimensionCount = try cursor.read(UInt32.self)
        guard dimensionCount <= maximumDimensions else {
            throw WeightError.badShape(
                file: file, tensor: name, shape: [],
                reason: "\(dimensionCount) dimensions; ggml allows at most \(maximumDimensions)")
        }
        var rawNE: [UInt64] = []
        for _ in 0..<dimensionCount { rawNE.append(try cursor.read(UInt64.self)) }
        let ne = rawNE.compactMap { Int(exactly: $0) }
        guard ne.count == rawNE.count else {
            // Not expressible as [Int]: the reason carries every dimension as stored.
            throw WeightError.badShape(
                file: file, tensor: name, shape: [],
                reason: "ne \(rawNE) (ggml order) has a dimension of 2^63 or more (a negative size written as unsigned?)")
        }
        // ggml order (fastest first) -> PyTorch order (outermost first), once, here.
        let shape = Array(ne.reversed())

        let typeID = try cursor.read(UInt32.self)
        guard let dtype = DType(ggmlType: typeID) else {
            throw WeightError.unsupportedDType(file: file, tensor: name, dtype: ggmlTypeName(typeID))
        }
        guard let byteCount = dtype.byteCount(shape: shape) else {
            let reason =
                dtype.isQuantized && (shape.last ?? 1) % dtype.blockSize != 0
                ? "innermost dimension is not a multiple of the \(dtype) block size \(dtype.blockSize)"
                : "size overflows"
            throw WeightError.badShape(file: file, tensor: name, shape: shape, reason: reason)
        }

        let rawOffset = try cursor.read(UInt64.self)
        guard let offset = Int(exactly: rawOffset), offset % alignment == 0 else {
            throw WeightError.badOffsets(
                file: file, tensor: name, reason: "offset \(rawOffset) is not a multiple of the alignment \(alignment)")
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, byteCount: byteCount, offset: offset)
    }

    // MARK: - Data section

    /// Checks names and data ranges (inside the file, no overlap) and makes the tensor views.
    private static func validate(
        _ infos: [TensorInfo], dataOffset: Int, file: MappedFile
    ) throws -> ([String: StoredTensor], [String]) {
        let name = file.path
        let fileSize = file.bytes.count
        var tensors: [String: StoredTensor] = [:]
        var ranges: [(range: Range<Int>, name: String)] = []
        for info in infos {
            guard tensors[info.name] == nil else { throw WeightError.duplicateTensor(file: name, tensor: info.name) }
            let (start, o1) = dataOffset.addingReportingOverflow(info.offset)
            let (end, o2) = start.addingReportingOverflow(info.byteCount)
            guard !o1, !o2, end <= fileSize else {
                throw WeightError.badOffsets(
                    file: name, tensor: info.name,
                    reason: "data offset \(info.offset) + \(info.byteCount) bytes runs past the end of the"
                        + " data section (\(max(0, fileSize - dataOffset)) bytes)")
            }
            let bytes = UnsafeRawBufferPointer(rebasing: file.bytes[start..<end])
            tensors[info.name] = StoredTensor(
                name: info.name, dtype: info.dtype, shape: info.shape, bytes: bytes, file: file)
            if start < end { ranges.append((start..<end, info.name)) }
        }
        ranges.sort { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(ranges, ranges.dropFirst()) where a.range.upperBound > b.range.lowerBound {
            throw WeightError.overlappingTensors(file: name, first: a.name, second: b.name)
        }
        return (tensors, infos.map(\.name))
    }

    /// ggml's name for a type id, for error messages about types this engine does not decode.
    private static func ggmlTypeName(_ id: UInt32) -> String {
        let names: [UInt32: String] = [
            9: "Q8_1", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S",
            22: "IQ2_S", 23: "IQ4_XS", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
        ]
        return "ggml type \(id)" + (names[id].map { " (\($0))" } ?? "")
    }
}
