import TensorKernels
import TensorKernelsAVX2

/// Decoding of every stored element type to Float32.
///
/// Plain types are converted here; the GGUF block formats are in `QuantizedBlocks`.
public enum Dequantization {
    /// Decodes `count` elements of type `dtype` starting at `source` (block-aligned for quantized
    /// types) into `destination`. `bool` decodes to 0 and 1.
    public static func decode(
        _ dtype: DType, from source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        switch dtype {
        // Tensors in a mapped file need not be aligned (a safetensors header has any length), so
        // every load here is an unaligned one.
        case .f32: UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .f16:
            #if arch(x86_64)
            if CPUKernels.active >= .avx512f { return AVX512Convert.halfToFloat(source, count: count, into: destination) }
            if CPUKernels.active >= .avx2 { return AVX2Convert.halfToFloat(source, count: count, into: destination) }
            #endif
            convert(source, as: UInt16.self, count: count, into: destination) { halfToFloat($0) }
        case .bf16:
            #if arch(x86_64)
            if CPUKernels.active >= .avx512f { return AVX512Convert.bfloatToFloat(source, count: count, into: destination) }
            if CPUKernels.active >= .avx2 { return AVX2Convert.bfloatToFloat(source, count: count, into: destination) }
            #endif
            convert(source, as: UInt16.self, count: count, into: destination) { Float(bitPattern: UInt32($0) << 16) }
        case .f64: convert(source, as: Double.self, count: count, into: destination) { Float($0) }
        case .i64: convert(source, as: Int64.self, count: count, into: destination) { Float($0) }
        case .i32: convert(source, as: Int32.self, count: count, into: destination) { Float($0) }
        case .i16: convert(source, as: Int16.self, count: count, into: destination) { Float($0) }
        case .i8: convert(source, as: Int8.self, count: count, into: destination) { Float($0) }
        case .u8, .bool: convert(source, as: UInt8.self, count: count, into: destination) { Float($0) }
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K:
            QuantizedBlocks.decode(dtype, from: source, count: count, into: destination)
        }
    }

    // Files are little-endian and so is every machine we run on.
    @inline(__always)
    private static func convert<T>(
        _ source: UnsafeRawPointer, as: T.Type, count: Int, into destination: UnsafeMutablePointer<Float>,
        _ f: (T) -> Float
    ) {
        for i in 0..<count {
            destination[i] = f(source.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
        }
    }

    /// IEEE binary16 to binary32, exact for every input (subnormals, infinities and NaN included).
    @inline(__always)
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let magnitude = UInt32(h & 0x7FFF)
        // Shifting exponent and mantissa into place and scaling by 2^112 re-biases the exponent
        // (15 -> 127) and normalizes half subnormals, exactly, without a branch.
        var f = Float(bitPattern: magnitude << 13) * 0x1p112
        if magnitude >= 0x7C00 { f = Float(bitPattern: (magnitude << 13) | 0x7F80_0000) }
        return Float(bitPattern: f.bitPattern | sign)
    }

    /// Float to IEEE binary16 with round-to-nearest-even (overflow to infinity, NaN kept).
    public static func floatToHalf(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        if value.isNaN { return sign | 0x7E00 }
        let magnitude = Float(bitPattern: bits & 0x7FFF_FFFF)
        if magnitude >= 65520 { return sign | 0x7C00 }
        if magnitude < 0x1p-14 {
            // Subnormal half: round magnitude / 2^-24 to the nearest integer, ties to even.
            return sign | UInt16((magnitude * 0x1p24).rounded(.toNearestOrEven))
        }
        let b = magnitude.bitPattern
        var half = (b >> 13) &- (112 << 10)
        let rest = b & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1) { half += 1 }
        return sign | UInt16(half)
    }

    /// Float to bfloat16 with round-to-nearest-even (NaN kept quiet).
    public static func floatToBFloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }
}
