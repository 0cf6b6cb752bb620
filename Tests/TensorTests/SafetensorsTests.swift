import Foundation
import TestSupport
import Testing

@testable import Tensor

/// Builds a safetensors file byte by byte: header JSON as given, then `data`.
private func safetensorsBytes(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    let json = Array(header.utf8)
    var bytes: [UInt8] = []
    withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { bytes += $0 }
    return bytes + json + data
}

private func open(_ bytes: [UInt8], name: String = "test.safetensors") throws -> SafetensorsFile {
    try SafetensorsFile(file: MappedFile(name: name, data: bytes))
}

private func expectError(_ expected: WeightError, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(throws: expected, sourceLocation: sourceLocation) { try open(bytes) }
}

@Suite struct SafetensorsTests {
    /// Fixture written by the Python `safetensors` package: Tests/Golden/generate_safetensors_fixtures.py.
    @Test func readsEveryDTypeWrittenByThePythonPackage() throws {
        let file = try SafetensorsFile(path: fixtureURL("safetensors_dtypes.safetensors").path)
        #expect(file.metadata["generator"] == "Tests/Golden/generate_safetensors_fixtures.py")
        for dtype in ["F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"] {
            let value = try file.tensor("value.\(dtype)")
            let expected = try file.tensor("expected.\(dtype)").toTensor()
            #expect(value.dtype == DType(safetensorsName: dtype))
            #expect(value.shape == expected.shape, "\(dtype)")
            let decoded: [Float] = dtype == "BOOL" ? try boolValues(value) : try value.toTensor().scalars
            // Exact: the decoded bits equal numpy's float32 conversion of the same stored bits.
            #expect(decoded.map(\.bitPattern) == expected.scalars.map(\.bitPattern), "\(dtype)")
        }
        #expect(try file.tensor("value.scalar").toTensor().scalars == [2.5])
        #expect(try file.tensor("value.scalar").shape == [])
        #expect(try file.tensor("value.empty").toTensor().shape == [0, 4])
        #expect(file.tensorNames.count == 22)
    }

    private func boolValues(_ t: StoredTensor) throws -> [Float] {
        #expect(throws: WeightError.unsupportedDType(file: t.file.path, tensor: t.name, dtype: "bool")) { try t.toTensor() }
        return (0..<t.count).map { Float(t.bytes[$0]) }
    }

    /// A negative dimension anywhere is reported with the whole shape the header gives, not with
    /// the dimensions read before it (which showed "bad shape []" for a leading one).
    @Test func negativeDimensionIsReportedWithTheWholeShape() {
        let bytes = safetensorsBytes(header: "{\"w\":{\"dtype\":\"F16\",\"shape\":[320,-4,3,3],\"data_offsets\":[0,0]}}")
        do {
            _ = try open(bytes)
            Issue.record("a negative dimension was accepted")
        } catch {
            #expect("\(error)" == "test.safetensors: tensor 'w': bad shape [320, -4, 3, 3]: dimension 1 is -4, not a non-negative integer")
        }
    }

    @Test func writerRoundTripsF32F16AndBF16WithMetadata() throws {
        let values = pseudoRandomTensor([3, 7, 5], seed: 7, scale: 300)
        var writer = SafetensorsWriter(metadata: ["format": "pt", "note": "quote \" and \\ and \n"])
        writer.add("a.f32", values)
        writer.add("a.f16", values, as: .f16)
        writer.add("a.bf16", values, as: .bf16)
        writer.add("ids", dtype: .i64, shape: [2], encodedBytes: [1, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255])
        writer.add("generated", shape: [3_000_001], as: .f32) { range, buffer in
            for (i, flat) in range.enumerated() { buffer[i] = Float(flat % 1000) }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-\(getpid()).safetensors").path
        try writer.write(to: path)
        defer { unlink(path) }

        let file = try SafetensorsFile(path: path)
        #expect(file.metadata == ["format": "pt", "note": "quote \" and \\ and \n"])
        #expect(file.tensorNames == ["a.f32", "a.f16", "a.bf16", "ids", "generated"])
        #expect(try file.tensor("a.f32").toTensor().scalars == values.scalars)
        let f16 = try file.tensor("a.f16").toTensor().scalars
        #expect(f16 == values.scalars.map { Float(Float16($0)) })
        let bf16 = try file.tensor("a.bf16").toTensor().scalars
        #expect(bf16 == values.scalars.map { Float(bitPattern: UInt32(Dequantization.floatToBFloat16($0)) << 16) })
        #expect(try file.tensor("ids").toTensor().scalars == [1, -1])
        let generated = try file.tensor("generated").toTensor()
        #expect(generated[flat: 2_999_999] == 999 && generated[flat: 1_234_567] == 567)
        // The header is padded to 8 bytes, as the reference writer does.
        #expect(file.file.bytes.loadUnaligned(as: UInt64.self) % 8 == 0)
    }

    @Test func readsUnalignedDataSections() throws {
        // A 3-byte-long header pad puts the data at an odd offset: every load must still work.
        let header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   "
        var data: [UInt8] = []
        for v: Float in [1.5, -2.25] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        let file = try open(safetensorsBytes(header: header, data: data))
        #expect(try file.tensor("x").toTensor().scalars == [1.5, -2.25])
    }

    @Test func rejectsMalformedHeadersWithTypedErrors() {
        let f = "test.safetensors"
        expectError(.truncated(file: f, expectedBytes: 8, actualBytes: 3), [1, 2, 3])
        expectError(
            .badHeader(file: f, reason: "header length 18446744073709551615 exceeds 104857600"),
            safetensorsBytes(header: "{}", declaredLength: UInt64.max))
        expectError(.truncated(file: f, expectedBytes: 8 + 100, actualBytes: 10), safetensorsBytes(header: "{}", declaredLength: 100))
        expectError(
            .badHeader(file: f, reason: "the header is not a JSON object"), safetensorsBytes(header: "[1, 2]"))
        #expect(throws: WeightError.self) { try open(safetensorsBytes(header: "{\"a\": ")) }
        #expect(throws: WeightError.self) { try open(safetensorsBytes(header: String(repeating: "[", count: 100_000))) }
        expectError(
            .unsupportedDType(file: f, tensor: "w", dtype: "F4"),
            safetensorsBytes(header: "{\"w\":{\"dtype\":\"F4\",\"shape\":[1],\"data_offsets\":[0,1]}}", data: [0]))
        expectError(
            .badShape(file: f, tensor: "w", shape: [-1], reason: "dimension 0 is -1, not a non-negative integer"),
            safetensorsBytes(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]))
        expectError(
            .badShape(file: f, tensor: "w", shape: [], reason: "dimension 1 is 1.5 in [1,1.5], not a non-negative integer"),
            safetensorsBytes(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1, 1.5],\"data_offsets\":[0,4]}}"))
        expectError(
            .badShape(file: f, tensor: "w", shape: [4_294_967_296, 4_294_967_296], reason: "element count overflows"),
            safetensorsBytes(
                header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}"))
        expectError(
            .badOffsets(file: f, tensor: "w", reason: "[0, 8) is outside the data section of 4 bytes"),
            safetensorsBytes(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data: [0, 0, 0, 0]))
        expectError(
            .badOffsets(file: f, tensor: "w", reason: "[4, 0) is outside the data section of 4 bytes"),
            safetensorsBytes(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", data: [0, 0, 0, 0]))
        expectError(
            .badOffsets(file: f, tensor: "w", reason: "4 bytes for [2] of F32, which needs 8"),
            safetensorsBytes(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]))
        expectError(
            .badOffsets(file: f, tensor: "w", reason: "data_offsets is not two non-negative integers"),
            safetensorsBytes(header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", data: [0, 0, 0, 0]))
        expectError(
            .badHeader(file: f, reason: "tensor 'w' has 0 'dtype' fields, expected 1"),
            safetensorsBytes(header: "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]))
        expectError(
            .overlappingTensors(file: f, first: "a", second: "b"),
            safetensorsBytes(
                header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data: Array(repeating: 0, count: 8)))
        expectError(
            .duplicateTensor(file: f, tensor: "a"),
            safetensorsBytes(
                header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data: Array(repeating: 0, count: 8)))
        expectError(
            .badHeader(file: f, reason: "__metadata__ value of 'n' is not a string"),
            safetensorsBytes(header: "{\"__metadata__\":{\"n\":1}}"))
    }

    @Test func missingTensorNamesTheFileAndTensor() throws {
        let file = try open(safetensorsBytes(header: "{}"))
        #expect(throws: WeightError.missingTensor(file: "test.safetensors", tensor: "nope")) { try file.tensor("nope") }
    }

    /// Every prefix of a valid file and thousands of random corruptions must give an error or a
    /// valid file, never a crash or a hang.
    @Test func survivesTruncationAndRandomCorruption() throws {
        var writer = SafetensorsWriter(metadata: ["k": "v"])
        writer.add("a", pseudoRandomTensor([4, 3], seed: 1), as: .f16)
        writer.add("b", pseudoRandomTensor([5], seed: 2))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(getpid()).safetensors").path
        try writer.write(to: path)
        defer { unlink(path) }
        let valid = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(try open(valid).tensorNames == ["a", "b"])

        for length in 0..<valid.count {
            #expect(throws: WeightError.self) { try open(Array(valid[0..<length])) }
        }
        var state: UInt64 = 12345
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var parsed = 0
        for _ in 0..<3000 {
            var bytes = valid
            for _ in 0..<(1 + next() % 4) { bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next()) }
            do {
                let file = try open(bytes)
                for name in file.tensorNames { _ = try? file.tensors[name]?.toTensor() }
                parsed += 1
            } catch is WeightError {
                continue
            }
        }
        // Mutations in the data section leave the file valid; the rest must have been rejected.
        #expect(parsed > 0 && parsed < 3000)
    }
}
