// The safetensors format (https://github.com/huggingface/safetensors):
//
//   u64 little-endian N | N bytes of UTF-8 JSON (may end in space padding) | data section
//
// The JSON header is an object. Each member but "__metadata__" is a tensor:
//   "name": {"dtype": "F16", "shape": [320, 4, 3, 3], "data_offsets": [begin, end]}
// with shapes in PyTorch order (an empty shape is a scalar) and byte offsets relative to the start
// of the data section, end exclusive. "__metadata__" is an optional object of string to string.
// Tensors are row-major and little-endian.
//
// The reader parses the header only and maps the file; tensor bytes are never copied. Every field
// is validated before use, so a truncated or hostile file gives a `WeightError` naming the file
// and tensor, never a crash or an allocation sized by an untrusted number.

/// A safetensors file: its tensors as views into a read-only memory mapping, and its metadata.
public final class SafetensorsFile: @unchecked Sendable {
    /// The largest header accepted (the reference implementation's limit).
    public static let maxHeaderBytes = 100 << 20

    /// The mapping the tensors point into.
    public let file: MappedFile
    /// Tensors by name.
    public let tensors: [String: StoredTensor]
    /// Tensor names in header order.
    public let tensorNames: [String]
    /// The `__metadata__` object (empty if absent).
    public let metadata: [String: String]

    /// Opens and validates `path`.
    /// - Throws: `WeightError` naming the file (and tensor) on any violation of the format.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Validates an already mapped file.
    /// - Throws: `WeightError` naming the file (and tensor) on any violation of the format.
    public init(file: MappedFile) throws {
        self.file = file
        let name = file.path
        let bytes = file.bytes
        guard bytes.count >= 8 else { throw WeightError.truncated(file: name, expectedBytes: 8, actualBytes: bytes.count) }
        let declared = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard declared <= UInt64(SafetensorsFile.maxHeaderBytes) else {
            throw WeightError.badHeader(file: name, reason: "header length \(declared) exceeds \(SafetensorsFile.maxHeaderBytes)")
        }
        let headerLength = Int(declared)
        guard 8 + headerLength <= bytes.count else {
            throw WeightError.truncated(file: name, expectedBytes: 8 + headerLength, actualBytes: bytes.count)
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)]))
        } catch let error as JSONValue.ParseError {
            throw WeightError.badHeader(file: name, reason: error.description)
        }
        guard case .object(let members) = json else {
            throw WeightError.badHeader(file: name, reason: "the header is not a JSON object")
        }

        let dataStart = 8 + headerLength
        let dataSize = bytes.count - dataStart
        var tensors: [String: StoredTensor] = [:]
        var order: [String] = []
        var metadata: [String: String] = [:]
        var ranges: [(range: Range<Int>, name: String)] = []
        for (key, value) in members {
            if key == "__metadata__" {
                metadata = try SafetensorsFile.metadata(value, file: name)
                continue
            }
            guard tensors[key] == nil else { throw WeightError.duplicateTensor(file: name, tensor: key) }
            let entry = try SafetensorsFile.entry(value, tensor: key, file: name, dataSize: dataSize)
            let start = bytes.baseAddress.map { $0 + dataStart + entry.range.lowerBound }
            tensors[key] = StoredTensor(
                name: key, dtype: entry.dtype, shape: entry.shape,
                bytes: UnsafeRawBufferPointer(start: start, count: entry.range.count), file: file)
            order.append(key)
            ranges.append((entry.range, key))
        }

        // Overlap check: after sorting by start, each non-empty range must begin at or after the
        // previous one's end.
        let sorted = ranges.filter { !$0.range.isEmpty }.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.range.lowerBound < a.range.upperBound {
            throw WeightError.overlappingTensors(file: name, first: a.name, second: b.name)
        }
        self.tensors = tensors
        self.tensorNames = order
        self.metadata = metadata
    }

    /// The tensor called `name`.
    /// - Throws: `WeightError.missingTensor`.
    public func tensor(_ name: String) throws -> StoredTensor {
        guard let t = tensors[name] else { throw WeightError.missingTensor(file: file.path, tensor: name) }
        return t
    }

    private static func metadata(_ value: JSONValue, file: String) throws -> [String: String] {
        guard case .object(let members) = value else {
            throw WeightError.badHeader(file: file, reason: "__metadata__ is not an object")
        }
        var result: [String: String] = [:]
        for (key, value) in members {
            guard let s = value.stringValue else {
                throw WeightError.badHeader(file: file, reason: "__metadata__ value of '\(key)' is not a string")
            }
            result[key] = s
        }
        return result
    }

    private static func entry(
        _ value: JSONValue, tensor: String, file: String, dataSize: Int
    ) throws -> (dtype: DType, shape: [Int], range: Range<Int>) {
        guard case .object(let fields) = value else {
            throw WeightError.badHeader(file: file, reason: "entry of tensor '\(tensor)' is not an object")
        }
        func field(_ key: String) throws -> JSONValue {
            let matches = fields.filter { $0.key == key }
            guard matches.count == 1 else {
                throw WeightError.badHeader(
                    file: file, reason: "tensor '\(tensor)' has \(matches.count) '\(key)' fields, expected 1")
            }
            return matches[0].value
        }
        guard let dtypeName = try field("dtype").stringValue else {
            throw WeightError.badHeader(file: file, reason: "dtype of tensor '\(tensor)' is not a string")
        }
        guard let dtype = DType(safetensorsName: dtypeName) else {
            throw WeightError.unsupportedDType(file: file, tensor: tensor, dtype: dtypeName)
        }
        guard case .array(let dims) = try field("shape") else {
            throw WeightError.badHeader(file: file, reason: "shape of tensor '\(tensor)' is not an array")
        }
        var shape: [Int] = []
        for (i, d) in dims.enumerated() {
            guard let n = d.nonNegativeInt else {
                // The whole shape as written, so the message shows what the file says.
                let integers = dims.compactMap(\.intValue)
                let written = integers.count == dims.count ? "" : " in \(JSONValue.array(dims).jsonText.prefix(200))"
                throw WeightError.badShape(
                    file: file, tensor: tensor, shape: integers.count == dims.count ? integers : [],
                    reason: "dimension \(i) is \(d.jsonText.prefix(40))\(written), not a non-negative integer")
            }
            shape.append(n)
        }
        guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
            let begin = offsets[0].nonNegativeInt, let end = offsets[1].nonNegativeInt
        else {
            throw WeightError.badOffsets(file: file, tensor: tensor, reason: "data_offsets is not two non-negative integers")
        }
        guard begin <= end, end <= dataSize else {
            throw WeightError.badOffsets(
                file: file, tensor: tensor, reason: "[\(begin), \(end)) is outside the data section of \(dataSize) bytes")
        }
        guard let expected = dtype.byteCount(shape: shape) else {
            throw WeightError.badShape(file: file, tensor: tensor, shape: shape, reason: "element count overflows")
        }
        guard end - begin == expected else {
            throw WeightError.badOffsets(
                file: file, tensor: tensor,
                reason: "\(end - begin) bytes for \(shape) of \(dtypeName), which needs \(expected)")
        }
        return (dtype, shape, begin..<end)
    }
}
