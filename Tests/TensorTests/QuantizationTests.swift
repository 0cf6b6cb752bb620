import Foundation
import TestSupport
import Testing

@testable import Tensor

// Fixtures written by the gguf PyPI package (0.19.0, numpy 1.26.4):
//   python Tests/Golden/generate_gguf_fixtures.py
// gguf_types.gguf holds random block bytes (finite scales) of every block type; gguf_types_expected.gguf
// holds what gguf.quants.dequantize returns for them, as F32 tensors of the same names.
@Suite struct QuantizationTests {
    static let blockTypes: [DType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K]

    static func fixtures() throws -> (file: GGUFFile, expected: GGUFFile) {
        (
            try GGUFFile(path: fixtureURL("gguf_types.gguf").path),
            try GGUFFile(path: fixtureURL("gguf_types_expected.gguf").path)
        )
    }

    /// Positions whose bit patterns differ (so -0 vs +0 and NaN payloads count too).
    static func bitMismatches(_ a: [Float], _ b: [Float]) -> [Int] {
        zip(a, b).enumerated().compactMap { i, p in p.0.bitPattern == p.1.bitPattern ? nil : i }
    }

    @Test(arguments: blockTypes + [.f32, .f16, .bf16])
    func dequantizationEqualsGGUFPackageBitForBit(_ dtype: DType) throws {
        let (file, expected) = try Self.fixtures()
        let name = dtype.rawValue.lowercased()
        let stored = try #require(file.tensors[name])
        #expect(stored.dtype == dtype)
        let actual = try stored.toTensor()
        let golden = try #require(expected.tensors[name]).toTensor()
        #expect(actual.shape == golden.shape)
        let mismatches = Self.bitMismatches(actual.scalars, golden.scalars)
        let bitExact = mismatches.isEmpty
        #expect(
            bitExact,
            "\(dtype): \(mismatches.count) of \(golden.count) differ, first at \(mismatches.prefix(5)); \(describeDifference(actual, golden))"
        )
        // Random bits with finite scales still cover every nibble/bit pattern across the blocks.
        #expect(golden.count >= 2 * dtype.blockSize)
    }

    @Test(arguments: blockTypes)
    func decodingBlockByBlockEqualsWholeTensor(_ dtype: DType) throws {
        let (file, _) = try Self.fixtures()
        let stored = try #require(file.tensors[dtype.rawValue.lowercased()])
        let whole = try stored.toTensor().scalars
        var tiles = [Float](repeating: .nan, count: stored.count)
        tiles.withUnsafeMutableBufferPointer { out in
            // Last block first: a tile decode must depend on nothing but its own blocks.
            for start in stride(from: stored.count - dtype.blockSize, through: 0, by: -dtype.blockSize) {
                stored.decode(elements: start..<(start + dtype.blockSize), into: out.baseAddress! + start)
            }
        }
        #expect(Self.bitMismatches(tiles, whole).isEmpty)
    }

    @Test func q8_0QuantizationEqualsGGUFPackageBytes() throws {
        let (file, _) = try Self.fixtures()
        let input = try #require(file.tensors["q8_0_quantize.input"]).toTensor()
        let expected = try #require(file.tensors["q8_0_quantize.expected"])
        #expect(input.shape == [2, 128] && expected.shape == [2, 128] && expected.dtype == .q8_0)
        var bytes = [UInt8](repeating: 0, count: expected.bytes.count)
        input.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes {
                QuantizedBlocks.encodeQ8_0(src.baseAddress!, count: src.count, into: $0.baseAddress!)
            }
        }
        let golden = Array(expected.bytes)
        let differing = zip(bytes, golden).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(bytes == golden, "bytes differing at \(differing.prefix(10))")
        // Block 0 is -127 then -14.5 ... 15.5, so d = 1 and x * id = x: ggml rounds the .5 ties half
        // away from zero (-14.5 -> -15, 15.5 -> 16), not to even.
        #expect(Array(golden[0..<2]) == [0x00, 0x3C])
        #expect(Int8(bitPattern: golden[2]) == -127)
        #expect(Int8(bitPattern: golden[2 + 1]) == -15 && Int8(bitPattern: golden[2 + 31]) == 16)
        // Block 1 is all zeros: d = 0 and every q = 0.
        #expect(golden[34..<68].allSatisfy { $0 == 0 })
    }

    @Test func q8_0RoundTripErrorIsWithinHalfAStep() {
        let values = pseudoRandom(32 * 64, seed: 7, scale: 3)
        var bytes = [UInt8](repeating: 0, count: 64 * 34)
        var decoded = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes {
                QuantizedBlocks.encodeQ8_0(src.baseAddress!, count: src.count, into: $0.baseAddress!)
            }
        }
        bytes.withUnsafeBytes { src in
            decoded.withUnsafeMutableBufferPointer {
                Dequantization.decode(.q8_0, from: src.baseAddress!, count: values.count, into: $0.baseAddress!)
            }
        }
        for b in 0..<64 {
            let d = Dequantization.halfToFloat(UInt16(bytes[34 * b]) | UInt16(bytes[34 * b + 1]) << 8)
            let amax = values[(32 * b)..<(32 * b + 32)].map(abs).max() ?? 0
            // The step is d; fp16 rounding of d adds at most 127 * |d - amax/127| <= 127 * 2^-11 * d.
            let bound = d * (0.5 + 127 * 0x1p-11) + 1e-6
            #expect(abs(d - amax / 127) <= d * 0x1p-11)
            for i in (32 * b)..<(32 * b + 32) {
                #expect(abs(decoded[i] - values[i]) <= bound, "block \(b) element \(i)")
            }
        }
    }

    @Test func q8_0ToleratesNonFiniteInput() {
        var values = [Float](repeating: 1, count: 64)
        values[3] = .nan
        values[40] = .infinity
        var bytes = [UInt8](repeating: 0xAA, count: 68)
        values.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes {
                QuantizedBlocks.encodeQ8_0(src.baseAddress!, count: 64, into: $0.baseAddress!)
            }
        }
        // Block 1 has amax = inf, so d = inf (0x7C00) and id = 0: finite values store 0, inf * 0 = NaN stores 0.
        #expect(Array(bytes[34..<36]) == [0x00, 0x7C])
        #expect(bytes[36..<68].allSatisfy { $0 == 0 })
    }

    @Test func writerQuantizesQ8_0LikeGGUFPackage() throws {
        let (file, _) = try Self.fixtures()
        let input = try #require(file.tensors["q8_0_quantize.input"]).toTensor()
        var writer = GGUFWriter()
        try writer.addTensor("w", input, as: .q8_0)
        let back = try GGUFFile(file: MappedFile(name: "writer.gguf", data: writer.serialized()))
        let w = try #require(back.tensors["w"])
        #expect(w.dtype == .q8_0 && w.shape == [2, 128])
        #expect(Array(w.bytes) == Array(try #require(file.tensors["q8_0_quantize.expected"]).bytes))
    }
}
