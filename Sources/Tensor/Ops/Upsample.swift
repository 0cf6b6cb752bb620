/// Nearest-neighbour upsampling of images.
extension Tensor {
    /// Nearest-neighbour upsampling of `[N, C, H, W]` by an integer factor in both spatial
    /// dimensions (`F.interpolate(x, scale_factor=2, mode="nearest")` for the default factor 2):
    /// `[N, C, H, W] -> [N, C, H·f, W·f]`.
    public func upsampledNearest(factor: Int = 2) -> Tensor {
        precondition(rank == 4, "upsampledNearest: expected [N, C, H, W], got \(shape)")
        precondition(factor >= 1, "upsampledNearest: factor \(factor)")
        let (height, width) = (shape[2], shape[3])
        let outWidth = width * factor
        let planes = shape[0] * shape[1]
        let inputRows = planes * height
        return producing([shape[0], shape[1], height * factor, outWidth]) { x, out in
            // Each input row becomes `factor` identical output rows: widen it once, then copy.
            Parallel.forEach(inputRows, minChunk: Swift.max(1, memoryBoundMinChunk / Swift.max(1, outWidth * factor))) {
                range in
                for r in range {
                    let src = x + r * width
                    let dst = out + r * factor * outWidth
                    if factor == 2 {
                        Tensor.widenRowBy2(src, dst, width)
                    } else {
                        for j in 0..<width {
                            (dst + j * factor).update(repeating: src[j], count: factor)
                        }
                    }
                    for k in 1..<factor {
                        (dst + k * outWidth).update(from: dst, count: outWidth)
                    }
                }
            }
        }
    }

    /// dst[2j] = dst[2j + 1] = src[j]: eight inputs at a time become one 16-lane store.
    @inline(__always) static func widenRowBy2(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        var j = 0
        while j + 8 <= n {
            let v = UnsafeRawPointer(src + j).loadUnaligned(as: SIMD8<Float>.self)
            let w = SIMD16<Float>(
                v[0], v[0], v[1], v[1], v[2], v[2], v[3], v[3], v[4], v[4], v[5], v[5], v[6], v[6], v[7], v[7])
            storeVector(w, dst, 2 * j)
            j += 8
        }
        while j < n {
            dst[2 * j] = src[j]
            dst[2 * j + 1] = src[j]
            j += 1
        }
    }
}
