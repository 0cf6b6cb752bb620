import Foundation
import TestSupport
import Testing

@testable import Tensor

/// GGUF bytes built field by field (little-endian), for files no honest writer would produce.
struct GGUFBytes {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        raw(Array(s.utf8))
    }

    /// Magic, version and counts.
    mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        raw(Array("GGUF".utf8))
        u32(version)
        u64(tensors)
        u64(kvs)
    }

    /// A u32 metadata pair.
    mutating func kvU32(_ key: String, _ value: UInt32) {
        string(key)
        u32(4)
        u32(value)
    }

    /// A tensor info; `ne` is ggml order (fastest first).
    mutating func tensor(_ name: String, ne: [UInt64], type: UInt32 = 0, offset: UInt64) {
        string(name)
        u32(UInt32(ne.count))
        for d in ne { u64(d) }
        u32(type)
        u64(offset)
    }

    mutating func pad(to alignment: Int = 32) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    mutating func floats(_ values: [Float]) { for v in values { u32(v.bitPattern) } }
}

@Suite struct GGUFTests {
    static let fileName = "test.gguf"

    /// The error parsing `bytes` throws; nil (and a failed expectation) if it parses or throws
    /// something that is not a `WeightError`.
    static func parseError(
        _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) -> WeightError? {
        do {
            _ = try GGUFFile(file: MappedFile(name: fileName, data: bytes))
            Issue.record("parsed, expected an error", sourceLocation: sourceLocation)
            return nil
        } catch let error as WeightError {
            return error
        } catch {
            Issue.record("not a WeightError: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    static func parse(_ bytes: [UInt8]) throws -> GGUFFile {
        try GGUFFile(file: MappedFile(name: fileName, data: bytes))
    }

    /// A small valid file whose last tensor ends exactly at the end of the file (no trailing
    /// padding), so that every proper prefix is invalid. Returns the bytes and the end of the
    /// tensor infos.
    static func smallValidFile(version: UInt32 = 3) -> (bytes: [UInt8], headerEnd: Int) {
        var b = GGUFBytes()
        b.header(version: version, tensors: 2, kvs: 2)
        b.kvU32("k", 7)
        b.string("name")
        b.u32(8)
        b.string("tiny")
        b.tensor("a", ne: [3, 1], offset: 0)  // f32 [1, 3]: 12 bytes, padded to 32
        b.tensor("b", ne: [8], type: 1, offset: 32)  // f16 [8]: 16 bytes
        let headerEnd = b.bytes.count
        b.pad()
        b.floats([1, 2, 3])
        b.pad()
        for h: UInt16 in [0x3C00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600, 0x4700, 0x4800] {
            b.raw([UInt8(h & 0xFF), UInt8(h >> 8)])
        }
        return (b.bytes, headerEnd)
    }

    // MARK: - Files written by gguf-py

    @Test func readsMetadataOfEveryValueType() throws {
        let file = try GGUFFile(path: fixtureURL("gguf_types.gguf").path)
        #expect(file.version == 3)
        #expect(file.alignment == 32)
        let m = file.metadata
        #expect(m["general.architecture"] == .string("fixture"))
        #expect(m["fixture.generator"] == .string("Tests/Golden/generate_gguf_fixtures.py"))
        #expect(m["fixture.seed"] == .uint64(20_240_611))
        #expect(m["v.u8"] == .uint8(200))
        #expect(m["v.i8"] == .int8(-100))
        #expect(m["v.u16"] == .uint16(60000))
        #expect(m["v.i16"] == .int16(-30000))
        #expect(m["v.u32"] == .uint32(4_000_000_000))
        #expect(m["v.i32"] == .int32(-2_000_000_000))
        #expect(m["v.f32"] == .float32(1.5))
        #expect(m["v.bool"] == .bool(true))
        #expect(m["v.string"] == .string("héllo, gguf"))
        #expect(m["v.u64"] == .uint64(18_000_000_000_000_000_000))
        #expect(m["v.i64"] == .int64(-9_000_000_000_000_000_000))
        #expect(m["v.f64"] == .float64(-2.25))
        #expect(m["v.array_u8"] == .array(elementType: .uint8, [.uint8(1), .uint8(2), .uint8(255)]))
        #expect(m["v.array_i32"] == .array(elementType: .int32, [.int32(-1), .int32(0), .int32(7)]))
        #expect(m["v.array_string"] == .array(elementType: .string, [.string("a"), .string(""), .string("ccc")]))
        #expect(m["v.array_f64"] == .array(elementType: .float64, [.float64(0.5), .float64(-1)]))
        #expect(m["v.array_bool"] == .array(elementType: .bool, [.bool(true), .bool(false)]))
        #expect(
            m["v.array_nested"]
                == .array(
                    elementType: .array,
                    [
                        .array(elementType: .int32, [.int32(1), .int32(2)]),
                        .array(elementType: .int32, [.int32(3)]),
                        .array(elementType: .string, [.string("x"), .string("y")]),
                    ]))
        // Every one of the 13 value types appears.
        func types(_ v: GGUFValue) -> [GGUFValueType] { [v.type] + (v.arrayValue ?? []).flatMap(types) }
        #expect(Set(m.values.flatMap(types)) == Set(GGUFValueType.allCases))
        #expect(file.metadataKeys.count == m.count && file.metadataKeys.first == "general.architecture")
    }

    @Test func tensorInfosComeBackInFileOrderWithPyTorchShapes() throws {
        let file = try GGUFFile(path: fixtureURL("gguf_types.gguf").path)
        #expect(
            file.tensorNames == [
                "f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k",
                "q6_k", "q8_k", "q8_0_quantize.input", "q8_0_quantize.expected",
            ])
        let shapes = file.tensorNames.map { file.tensors[$0]?.shape ?? [] }
        #expect(
            shapes == [
                [2, 3], [2, 3, 4], [5], [2, 64], [2, 64], [2, 64], [2, 64], [2, 64], [2, 256], [2, 256], [2, 256],
                [2, 256], [2, 256], [2, 256], [2, 128], [2, 128],
            ])
        for t in file.tensors.values {
            #expect(t.bytes.count == t.dtype.byteCount(shape: t.shape))
            #expect((UnsafeRawPointer(t.bytes.baseAddress!) - file.file.bytes.baseAddress!) % 32 == 0)
        }
    }

    /// gguf-py stores numpy [2, 3] as ne = [3, 2]; the reader must give back [2, 3] with the same
    /// row-major values (np.arange(6).reshape(2, 3)).
    @Test func dimensionsAreReversedOnceAtTheReader() throws {
        let file = try GGUFFile(path: fixtureURL("gguf_types.gguf").path)
        let t = try #require(file.tensors["f32"]).toTensor()
        #expect(t.shape == [2, 3])
        #expect(t.scalars == [0, 1, 2, 3, 4, 5])
        #expect(t[1, 0] == 3)
        // And in the raw header: ne[0] is the innermost dimension.
        var b = GGUFBytes()
        b.header(tensors: 1, kvs: 0)
        b.tensor("t", ne: [4, 3, 2], offset: 0)
        b.pad()
        b.floats((0..<24).map(Float.init))
        #expect(try Self.parse(b.bytes).tensors["t"]?.shape == [2, 3, 4])
    }

    /// gguf-py writes only v3; the fixture's version field was patched to 2 (same layout).
    @Test func readsVersion2WithCustomAlignment() throws {
        let file = try GGUFFile(path: fixtureURL("gguf_v2.gguf").path)
        #expect(file.version == 2)
        #expect(file.alignment == 64)
        #expect(file.metadata["general.alignment"] == .uint32(64))
        #expect(file.dataOffset % 64 == 0)
        let a = try #require(file.tensors["a"]).toTensor()
        let b = try #require(file.tensors["b"]).toTensor()
        #expect(a.shape == [2, 4] && a.scalars == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(b.shape == [3] && b.scalars == [-1, 0.5, 2])
        #expect(try Self.parse(Self.smallValidFile(version: 2).bytes).version == 2)
    }

    // MARK: - Writer

    @Test func writerReproducesGGUFPackageFileByteForByte() throws {
        let path = fixtureURL("gguf_types.gguf").path
        let original = try GGUFFile(path: path)
        var writer = GGUFWriter()
        for key in original.metadataKeys { writer.setMetadata(key, try #require(original.metadata[key])) }
        for name in original.tensorNames {
            let t = try #require(original.tensors[name])
            try writer.addTensor(name, dtype: t.dtype, shape: t.shape, bytes: Array(t.bytes))
        }
        let golden = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let mine = writer.serialized()
        #expect(mine.count == golden.count)
        #expect(
            mine == golden,
            "first difference at \(zip(mine, golden).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)"
        )
    }

    @Test func writerRoundTripsMetadataAndTensors() throws {
        let metadata: [(String, GGUFValue)] = [
            ("u8", .uint8(1)), ("i8", .int8(-2)), ("u16", .uint16(3)), ("i16", .int16(-4)), ("u32", .uint32(5)),
            ("i32", .int32(-6)), ("f32", .float32(0.25)), ("bool", .bool(false)), ("string", .string("ü")),
            ("u64", .uint64(.max)), ("i64", .int64(.min)), ("f64", .float64(.pi)),
            ("empty", .array(elementType: .float32, [])),
            ("nested", .array(elementType: .array, [.array(elementType: .string, [.string("s")])])),
        ]
        var writer = GGUFWriter(alignment: 64)
        for (k, v) in metadata { writer.setMetadata(k, v) }
        let x = pseudoRandomTensor([3, 64], seed: 11, scale: 2)
        try writer.addTensor("x.f32", x)
        try writer.addTensor("x.f16", x, as: .f16)
        try writer.addTensor("x.bf16", x, as: .bf16)
        try writer.addTensor("x.q8_0", x, as: .q8_0)
        try writer.addTensor("scalar", Tensor(shape: [], values: [42]))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-writer-\(UUID()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path)

        let file = try GGUFFile(path: path)
        #expect(Array(file.file.bytes) == writer.serialized())
        #expect(file.version == 3 && file.alignment == 64)
        #expect(file.metadataKeys == ["general.alignment"] + metadata.map(\.0))
        for (k, v) in metadata { #expect(file.metadata[k] == v, "\(k)") }
        #expect(file.tensorNames == ["x.f32", "x.f16", "x.bf16", "x.q8_0", "scalar"])
        #expect(try file.tensors["x.f32"]?.toTensor().scalars == x.scalars)
        #expect(try file.tensors["x.f16"]?.toTensor().scalars == x.scalars.map { Float(Float16($0)) })
        #expect(
            try file.tensors["x.bf16"]?.toTensor().scalars
                == x.scalars.map { Float(bitPattern: UInt32(Dequantization.floatToBFloat16($0)) << 16) })
        let q = try #require(file.tensors["x.q8_0"])
        #expect(q.shape == [3, 64] && q.bytes.count == 6 * 34)
        #expect(nmse(try q.toTensor().scalars, x.scalars) < 1e-4)
        #expect(try file.tensors["scalar"]?.toTensor().scalars == [42])
        #expect(file.tensors["scalar"]?.shape == [])
    }

    @Test func writerRejectsBadTensors() throws {
        var writer = GGUFWriter()
        try writer.addTensor("a", Tensor(shape: [2], values: [1, 2]))
        #expect(throws: WeightError.duplicateTensor(file: "GGUFWriter", tensor: "a")) {
            try writer.addTensor("a", Tensor(shape: [2], values: [1, 2]))
        }
        #expect(throws: WeightError.unsupportedDType(file: "GGUFWriter", tensor: "b", dtype: "q4_K")) {
            try writer.addTensor("b", Tensor(shape: [256], repeating: 0), as: .q4_K)
        }
        let error = #expect(throws: WeightError.self) {
            try writer.addTensor("c", Tensor(shape: [31], repeating: 0), as: .q8_0)
        }
        guard case .badShape(_, "c", [31], _) = error else { Issue.record("\(String(describing: error))"); return }
        let sizeError = #expect(throws: WeightError.self) {
            try writer.addTensor("d", dtype: .f16, shape: [4], bytes: [0, 0])
        }
        guard case .badShape(_, "d", [4], _) = sizeError else {
            Issue.record("\(String(describing: sizeError))"); return
        }
    }

    // MARK: - Malformed files

    @Test func badMagic() {
        var bytes = Self.smallValidFile().bytes
        bytes[3] = UInt8(ascii: "X")
        #expect(Self.parseError(bytes) == .badMagic(file: Self.fileName))
    }

    @Test(arguments: [UInt32(0), 1, 4, 0x0300_0000])
    func unsupportedVersions(_ version: UInt32) {
        // Version 1 had 32-bit counts; 0x03000000 is a big-endian v3 file read little-endian.
        let bytes = Self.smallValidFile(version: version).bytes
        #expect(Self.parseError(bytes) == .unsupportedVersion(file: Self.fileName, version: Int(version)))
    }

    @Test func everyTruncationThrows() throws {
        let (bytes, headerEnd) = Self.smallValidFile()
        let file = try Self.parse(bytes)
        #expect(try file.tensors["b"]?.toTensor().scalars == [1, 2, 3, 4, 5, 6, 7, 8])
        for length in 0..<bytes.count {
            let error = Self.parseError(Array(bytes[0..<length]))
            switch error {
            case .truncated(let name, let expected, let actual):
                // Inside the header: the error says how far the read wanted to go.
                #expect(length < headerEnd && name == Self.fileName && actual == length && expected > length)
            case .badOffsets(_, let tensor, _):
                // Header complete, data short: the first tensor that does not fit is named.
                #expect(
                    length >= headerEnd && tensor == (length < file.dataOffset + 12 ? "a" : "b"), "length \(length)")
            default:
                Issue.record("length \(length): \(String(describing: error))")
            }
        }
    }

    @Test func hugeCountsAndLengthsAreRejectedBeforeAllocation() {
        // Tensor count 2^60 (times 24 bytes each overflows 64 bits).
        var b = GGUFBytes()
        b.header(tensors: 1 << 60, kvs: 0)
        #expect(Self.parseError(b.bytes) == .truncated(file: Self.fileName, expectedBytes: Int.max, actualBytes: 24))
        // KV count 2^62.
        b = GGUFBytes()
        b.header(tensors: 0, kvs: 1 << 62)
        #expect(Self.parseError(b.bytes) == .truncated(file: Self.fileName, expectedBytes: Int.max, actualBytes: 24))
        // A key length of 2^63.
        b = GGUFBytes()
        b.header(tensors: 0, kvs: 1)
        b.u64(1 << 63)
        b.raw([0, 0, 0, 0, 0])
        #expect(Self.parseError(b.bytes) == .truncated(file: Self.fileName, expectedBytes: Int.max, actualBytes: 37))
        // A string value of length 2^64 - 1.
        b = GGUFBytes()
        b.header(tensors: 0, kvs: 1)
        b.string("s")
        b.u32(8)
        b.u64(.max)
        #expect(
            Self.parseError(b.bytes)
                == .truncated(file: Self.fileName, expectedBytes: Int.max, actualBytes: b.bytes.count))
        // An array of 2^40 u64 (8 TiB) and of 2^61 strings.
        for (elementType, count) in [(UInt32(10), UInt64(1) << 40), (8, 1 << 61), (9, 1 << 59)] {
            b = GGUFBytes()
            b.header(tensors: 0, kvs: 1)
            b.string("arr")
            b.u32(9)
            b.u32(elementType)
            b.u64(count)
            b.raw([UInt8](repeating: 0, count: 64))
            guard case .truncated(_, _, b.bytes.count) = Self.parseError(b.bytes) else {
                Issue.record("array of type \(elementType)")
                return
            }
        }
        // A tensor name of length 2^64 - 1.
        b = GGUFBytes()
        b.header(tensors: 1, kvs: 0)
        b.u64(.max)
        b.raw([UInt8](repeating: 0, count: 24))
        #expect(Self.parseError(b.bytes) == .truncated(file: Self.fileName, expectedBytes: Int.max, actualBytes: 56))
    }

    @Test func arrayNestingIsBounded() throws {
        func nested(_ depth: Int) -> [UInt8] {
            var b = GGUFBytes()
            b.header(tensors: 0, kvs: 1)
            b.string("deep")
            b.u32(9)
            for _ in 1..<depth {
                b.u32(9)  // element type: array
                b.u64(1)
            }
            b.u32(0)  // innermost: one u8
            b.u64(1)
            b.u8(5)
            return b.bytes
        }
        let ok = try Self.parse(nested(GGUFFile.maximumArrayDepth))
        var v = try #require(ok.metadata["deep"])
        for _ in 1..<GGUFFile.maximumArrayDepth { v = try #require(v.arrayValue?.first) }
        #expect(v == .array(elementType: .uint8, [.uint8(5)]))
        guard case .badHeader = Self.parseError(nested(GGUFFile.maximumArrayDepth + 1)) else {
            Issue.record("depth \(GGUFFile.maximumArrayDepth + 1) accepted")
            return
        }
        // A hostile file nesting as deep as its size allows is refused at the same depth.
        guard case .badHeader = Self.parseError(nested(100_000)) else { Issue.record("depth 100000"); return }
    }

    static func oneTensor(ne: [UInt64], type: UInt32 = 0, offset: UInt64 = 0, data: Int = 64) -> [UInt8] {
        var b = GGUFBytes()
        b.header(tensors: 1, kvs: 0)
        b.tensor("t", ne: ne, type: type, offset: offset)
        b.pad()
        b.raw([UInt8](repeating: 0, count: data))
        return b.bytes
    }

    /// A size written from a negative number (2^64 - 4 as u64) is reported with every
    /// dimension as stored, not only those read before it.
    @Test func dimensionAboveInt64MaxIsReportedWithTheWholeShape() {
        let error = Self.parseError(Self.oneTensor(ne: [3, UInt64.max - 3]))
        #expect(error.map { "\($0)".contains("ne [3, 18446744073709551612] (ggml order)") } == true, "\(String(describing: error))")
    }

    @Test func badShapes() {
        guard case .badShape(_, "t", [], _) = Self.parseError(Self.oneTensor(ne: Array(repeating: 1, count: 1000))),
            case .badShape(_, "t", [], _) = Self.parseError(Self.oneTensor(ne: [1, 1, 1, 1, 1]))
        else {
            Issue.record("n_dims")
            return
        }
        // A product that overflows Int64 and a dimension above Int64.max.
        guard
            case .badShape(_, "t", [1 << 32, 1 << 32, 1 << 32], _) =
                Self.parseError(Self.oneTensor(ne: [1 << 32, 1 << 32, 1 << 32])),
            case .badShape(_, "t", _, _) = Self.parseError(Self.oneTensor(ne: [1 << 63]))
        else {
            Issue.record("overflow")
            return
        }
        // Q4_0 rows must be whole 32-element blocks.
        guard case .badShape(_, "t", [2, 31], _) = Self.parseError(Self.oneTensor(ne: [31, 2], type: 2)) else {
            Issue.record("block")
            return
        }
    }

    @Test func unknownGGMLTypes() {
        #expect(
            Self.parseError(Self.oneTensor(ne: [256], type: 16))
                == .unsupportedDType(file: Self.fileName, tensor: "t", dtype: "ggml type 16 (IQ2_XXS)"))
        #expect(
            Self.parseError(Self.oneTensor(ne: [4], type: 99))
                == .unsupportedDType(file: Self.fileName, tensor: "t", dtype: "ggml type 99"))
    }

    @Test(arguments: [UInt64(4), 1 << 20, (1 << 63) - 32, .max - 31])
    func badOffsets(_ offset: UInt64) {
        // Misaligned, beyond the file, overflowing data start + offset, beyond Int64.
        guard case .badOffsets(Self.fileName, "t", _) = Self.parseError(Self.oneTensor(ne: [4], offset: offset)) else {
            Issue.record("offset \(offset)")
            return
        }
    }

    @Test func dataLargerThanTheFile() {
        // 16 f32 = 64 bytes at offset 32 with 64 bytes of data.
        guard case .badOffsets(_, "t", _) = Self.parseError(Self.oneTensor(ne: [16], offset: 32)) else {
            Issue.record("past end")
            return
        }
        #expect(throws: Never.self) { try Self.parse(Self.oneTensor(ne: [16], offset: 0)) }
    }

    @Test func overlappingAndDuplicateTensors() {
        var b = GGUFBytes()
        b.header(tensors: 3, kvs: 0)
        b.tensor("a", ne: [16], offset: 0)  // bytes 0..<64
        b.tensor("z", ne: [0], offset: 32)  // empty: overlaps nothing
        b.tensor("b", ne: [8], offset: 32)  // bytes 32..<64
        b.pad()
        b.raw([UInt8](repeating: 0, count: 64))
        #expect(Self.parseError(b.bytes) == .overlappingTensors(file: Self.fileName, first: "a", second: "b"))

        b = GGUFBytes()
        b.header(tensors: 2, kvs: 0)
        b.tensor("a", ne: [8], offset: 0)
        b.tensor("a", ne: [8], offset: 32)
        b.pad()
        b.raw([UInt8](repeating: 0, count: 64))
        #expect(Self.parseError(b.bytes) == .duplicateTensor(file: Self.fileName, tensor: "a"))
    }

    @Test func badAlignmentValues() throws {
        func file(_ kv: (inout GGUFBytes) -> Void) -> [UInt8] {
            var b = GGUFBytes()
            b.header(tensors: 1, kvs: 1)
            kv(&b)
            b.tensor("t", ne: [4], offset: 0)
            b.pad(to: 64)
            b.raw([UInt8](repeating: 0, count: 16))
            return b.bytes
        }
        for value: UInt32 in [0, 3, 48, 1 << 31] {
            guard case .badHeader = Self.parseError(file { $0.kvU32("general.alignment", value) }) else {
                Issue.record("alignment \(value)")
                return
            }
        }
        let asString = file {
            $0.string("general.alignment")
            $0.u32(8)
            $0.string("32")
        }
        guard case .badHeader = Self.parseError(asString) else { Issue.record("string alignment"); return }
        let good = try Self.parse(file { $0.kvU32("general.alignment", 64) })
        #expect(good.alignment == 64 && good.dataOffset % 64 == 0)
    }

    @Test func badMetadata() {
        var b = GGUFBytes()
        b.header(tensors: 0, kvs: 2)
        b.kvU32("k", 1)
        b.kvU32("k", 2)
        guard case .badHeader = Self.parseError(b.bytes) else { Issue.record("duplicate key"); return }

        b = GGUFBytes()
        b.header(tensors: 0, kvs: 1)
        b.string("k")
        b.u32(13)
        b.u32(0)
        guard case .badHeader = Self.parseError(b.bytes) else { Issue.record("value type 13"); return }

        b = GGUFBytes()
        b.header(tensors: 0, kvs: 1)
        b.string("k")
        b.u32(9)
        b.u32(77)
        b.u64(0)
        guard case .badHeader = Self.parseError(b.bytes) else { Issue.record("element type 77"); return }

        b = GGUFBytes()
        b.header(tensors: 1, kvs: 0)
        b.u64(2)
        b.raw([0xC3, 0x28])  // invalid UTF-8
        b.u32(1)
        b.u64(4)
        b.u32(0)
        b.u64(0)
        b.pad()
        b.raw([UInt8](repeating: 0, count: 16))
        guard case .badHeader = Self.parseError(b.bytes) else { Issue.record("UTF-8 name"); return }
    }

    /// Random corruption of valid files must give a parsed file or a WeightError, never a crash or a hang.
    @Test func randomCorruptionNeverCrashes() throws {
        let sources = [Self.smallValidFile().bytes, Array(try Data(contentsOf: fixtureURL("gguf_v2.gguf")))]
        var state: UInt64 = 0x1234_5678
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        var parsed = 0, rejected = 0
        for i in 0..<4000 {
            var bytes = sources[i % sources.count]
            for _ in 0..<(1 + Int(next() % 4)) {
                let at = Int(next() % UInt64(bytes.count))
                // Half the time a random byte, else an extreme one (counts and lengths blow up).
                bytes[at] =
                    next() % 2 == 0 ? UInt8(truncatingIfNeeded: next()) : [0x00, 0xFF, 0x7F, 0x80][Int(next() % 4)]
            }
            do {
                let file = try Self.parse(bytes)
                for t in file.tensors.values where t.dtype.isNumeric { _ = try t.toTensor() }
                parsed += 1
            } catch is WeightError {
                rejected += 1
            }
        }
        #expect(parsed + rejected == 4000)
        #expect(rejected > 1000)
    }
}
