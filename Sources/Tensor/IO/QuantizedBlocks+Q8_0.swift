extension QuantizedBlocks {
    /// Quantizes `count` floats (a multiple of 32) to Q8_0 blocks at `destination`
    /// (`count / 32 * 34` bytes), exactly as ggml's `quantize_row_q8_0_ref` and gguf-py's
    /// `gguf.quants.quantize(_, Q8_0)`.
    ///
    /// Per block: `d = max|x| / 127`, `id = d != 0 ? 1 / d : 0`, `q = roundf(x * id)` (half away
    /// from zero), and `d` is stored as fp16 (round to nearest even). `id` comes from the float32
    /// `d`, not the fp16 one, as in ggml. Non-finite input cannot trap: a NaN product stores 0.
    public static func encodeQ8_0(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer)
    {
        precondition(count % 32 == 0, "encodeQ8_0: \(count) elements is not a whole number of 32-element blocks")
        for b in 0..<(count / 32) {
            let x = source + 32 * b
            let out = destination + 34 * b
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(x[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            out.storeBytes(of: Dequantization.floatToHalf(d).littleEndian, toByteOffset: 0, as: UInt16.self)
            for j in 0..<32 {
                // |x * id| <= 127 for finite input, so the clamp only guards NaN and infinity.
                let r = (x[j] * id).rounded(.toNearestOrAwayFromZero)
                let q: Int8 = r.isNaN ? 0 : Int8(min(127, max(-127, r)))
                out.storeBytes(of: UInt8(bitPattern: q), toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }
}
