import Foundation
@testable import Tensor

/// `tensor` encoded as `dtype` (f32, f16, bf16 or q8_0) in an in-memory weight file, plus the
/// values a decoder must produce from it (the rounded weights the reference uses).
func encodedWeight(_ tensor: Tensor, as dtype: DType, name: String = "weight") throws -> (StoredTensor, Tensor) {
    if dtype == .q8_0 {
        // Blocks of 32 run along the innermost dimension; another shape would write past `bytes`.
        guard let count = dtype.byteCount(shape: tensor.shape) else {
            preconditionFailure("encodedWeight: \(tensor.shape) has no whole q8_0 blocks along its last dimension")
        }
        var bytes = [UInt8](repeating: 0, count: count)
        tensor.withUnsafeBufferPointer { values in
            bytes.withUnsafeMutableBytes { QuantizedBlocks.encodeQ8_0(values.baseAddress!, count: values.count, into: $0.baseAddress!) }
        }
        let file = MappedFile(name: "\(name).q8_0", data: bytes)
        let stored = StoredTensor(name: name, dtype: dtype, shape: tensor.shape, bytes: file.bytes, file: file)
        return (stored, try stored.toTensor())
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(tensor.count * dtype.blockBytes)
    for value in tensor.scalars {
        switch dtype {
        case .f32: withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
        case .f16: withUnsafeBytes(of: Dequantization.floatToHalf(value).littleEndian) { bytes += $0 }
        case .bf16: withUnsafeBytes(of: Dequantization.floatToBFloat16(value).littleEndian) { bytes += $0 }
        default: preconditionFailure("encodedWeight: \(dtype) not supported by the test helper")
        }
    }
    let file = MappedFile(name: "\(name).\(dtype)", data: bytes)
    let stored = StoredTensor(name: name, dtype: dtype, shape: tensor.shape, bytes: file.bytes, file: file)
    return (stored, try stored.toTensor())
}

/// Runs `body` with `threads` kernel workers, for this test's task only (concurrent tests keep theirs).
func withThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
    try Parallel.withThreadCount(threads, body)
}
