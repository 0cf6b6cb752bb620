import Foundation

/// Writes a safetensors file (format: see `SafetensorsFile.swift`).
///
/// Tensors are added first and written in one pass, so a multi-gigabyte checkpoint is streamed
/// to disk a chunk at a time. The file appears under its final name only when complete.
public struct SafetensorsWriter {
    private enum Source {
        case values(Tensor)
        case encoded([UInt8])
        case generated((Range<Int>, UnsafeMutablePointer<Float>) -> Void)
    }

    private struct Entry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let source: Source
    }

    private var entries: [Entry] = []
    private var names: Set<String> = []
    /// The `__metadata__` object.
    public var metadata: [String: String]

    /// An empty file with the given metadata.
    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    /// Adds `tensor`, encoded as `dtype` (f32, f16 or bf16, rounding to nearest even).
    public mutating func add(_ name: String, _ tensor: Tensor, as dtype: DType = .f32) {
        precondition([.f32, .f16, .bf16].contains(dtype), "SafetensorsWriter: cannot encode floats as \(dtype)")
        append(Entry(name: name, dtype: dtype, shape: tensor.shape, source: .values(tensor)))
    }

    /// Adds already encoded bytes (any dtype safetensors can hold, e.g. i64 position ids).
    public mutating func add(_ name: String, dtype: DType, shape: [Int], encodedBytes: [UInt8]) {
        precondition(dtype.byteCount(shape: shape) == encodedBytes.count, "safetensors: '\(name)' byte count")
        append(Entry(name: name, dtype: dtype, shape: shape, source: .encoded(encodedBytes)))
    }

    /// Adds a tensor whose values are produced while writing, a chunk of flat indices at a time:
    /// `fill(range, buffer)` writes `range.count` floats. Nothing of it is held in memory.
    public mutating func add(
        _ name: String, shape: [Int], as dtype: DType,
        fill: @escaping (_ range: Range<Int>, _ buffer: UnsafeMutablePointer<Float>) -> Void
    ) {
        precondition([.f32, .f16, .bf16].contains(dtype), "SafetensorsWriter: cannot encode floats as \(dtype)")
        append(Entry(name: name, dtype: dtype, shape: shape, source: .generated(fill)))
    }

    private mutating func append(_ entry: Entry) {
        precondition(entry.dtype.safetensorsName != nil, "safetensors cannot hold \(entry.dtype)")
        precondition(names.insert(entry.name).inserted, "safetensors: '\(entry.name)' added twice")
        precondition(entry.name != "__metadata__", "safetensors: reserved name")
        entries.append(entry)
    }

    /// The header JSON, padded with spaces to a multiple of 8 bytes as the reference writer does.
    func header() -> [UInt8] {
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(JSONValue.quoted($0)):\(JSONValue.quoted(metadata[$0] ?? ""))" }
            members.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for e in entries {
            let size = e.dtype.byteCount(shape: e.shape) ?? 0
            let shape = e.shape.map(String.init).joined(separator: ",")
            members.append(
                "\(JSONValue.quoted(e.name)):{\"dtype\":\"\(e.dtype.safetensorsName ?? "")\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var bytes = Array("{\(members.joined(separator: ","))}".utf8)
        while bytes.count % 8 != 0 { bytes.append(0x20) }
        return bytes
    }

    /// Writes the file to `path` (via a temporary file renamed into place).
    /// - Throws: `WeightError.cannotOpen` if the file cannot be created or written.
    public func write(to path: String) throws {
        let temporary = path + ".partial"
        guard let handle = fopen(temporary, "wb") else {
            throw WeightError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        var ok = true
        func put(_ raw: UnsafeRawBufferPointer) {
            if ok && !raw.isEmpty { ok = fwrite(raw.baseAddress, 1, raw.count, handle) == raw.count }
        }
        let header = header()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { put($0) }
        header.withUnsafeBytes { put($0) }

        let chunk = 1 << 20
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
        let encoded = UnsafeMutableRawPointer.allocate(byteCount: chunk * 4, alignment: 64)
        defer {
            floats.deallocate()
            encoded.deallocate()
        }
        for e in entries {
            switch e.source {
            case .encoded(let bytes): bytes.withUnsafeBytes { put($0) }
            case .values(let tensor):
                tensor.withUnsafeBufferPointer { values in
                    var start = 0
                    while start < values.count {
                        let n = min(chunk, values.count - start)
                        put(SafetensorsWriter.encode(values.baseAddress! + start, count: n, as: e.dtype, into: encoded))
                        start += n
                    }
                }
            case .generated(let fill):
                let total = Tensor.elementCount(e.shape)
                var start = 0
                while start < total {
                    let n = min(chunk, total - start)
                    fill(start..<(start + n), floats)
                    put(SafetensorsWriter.encode(floats, count: n, as: e.dtype, into: encoded))
                    start += n
                }
            }
        }
        ok = fclose(handle) == 0 && ok
        guard ok, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw WeightError.cannotOpen(file: path, reason: "write failed: \(reason)")
        }
    }

    /// Encodes floats as f32, f16 or bf16 little-endian bytes into `buffer` (4 bytes per value of room).
    static func encode(
        _ values: UnsafePointer<Float>, count: Int, as dtype: DType, into buffer: UnsafeMutableRawPointer
    ) -> UnsafeRawBufferPointer {
        switch dtype {
        case .f32:
            buffer.copyMemory(from: values, byteCount: count * 4)
            return UnsafeRawBufferPointer(start: buffer, count: count * 4)
        case .f16, .bf16:
            let out = buffer.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count {
                out[i] = dtype == .f16 ? Dequantization.floatToHalf(values[i]) : Dequantization.floatToBFloat16(values[i])
            }
            return UnsafeRawBufferPointer(start: buffer, count: count * 2)
        default:
            preconditionFailure("SafetensorsWriter: cannot encode floats as \(dtype)")
        }
    }
}
