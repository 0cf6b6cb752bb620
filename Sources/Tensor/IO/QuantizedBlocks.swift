/// GGUF block formats (placeholder until the quantization work lands).
enum QuantizedBlocks {
    static func decode(_ dtype: DType, from source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        preconditionFailure("QuantizedBlocks.decode: \(dtype) not implemented yet")
    }
}
