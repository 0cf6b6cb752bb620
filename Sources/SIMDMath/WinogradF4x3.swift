/// The transforms of Winograd F(4x4, 3x3) (Lavin & Gray, interpolation points 0, ±1, ±2, ∞) on
/// 8 tiles per vector, shared by the `generic` build (`PortableWinogradConvolution` in `Tensor`)
/// and the `avx2` one (`TensorKernelsAVX2`): `@_transparent`, so each module compiles them for its
/// own instruction set. No closures in them: a closure is compiled once, in this module, for the
/// baseline (which is why the callers pass their scratch).
public enum WinogradF4x3 {
    /// Floats of the `scratch` the transforms take (a 6x6 patch of 8 tiles).
    public static let scratchFloats = 36 * 8

    public typealias V8 = SIMD8<Float>

    /// Floats from one position ξ's matrix of `floats` to the next: rounded up to an odd number
    /// of 64-byte lines. The transforms touch all 36 positions at once, and at a stride that is a
    /// multiple of 4 KB (cin of 128·k, 64-tile panels) the 36 streams share one L1 set and evict
    /// each other (the AVX-512 filter transform ran 3x slower than the GEMMs it feeds).
    @_transparent
    public static func positionStride(floats: Int) -> Int { ((floats + 15) / 16 | 1) * 16 }

    /// 4x4 output tiles of the batch, numbered image by image, row by row.
    public struct TileGrid {
        public let batch, h, w, tilesY, tilesX: Int
        public var count: Int { batch * tilesY * tilesX }

        public init(batch: Int, h: Int, w: Int) {
            (self.batch, self.h, self.w, tilesY, tilesX) = (batch, h, w, (h + 3) / 4, (w + 3) / 4)
        }

        /// Image, first output row and first output column of tile `t`.
        @_transparent
        public func origin(_ t: Int) -> (image: Int, y: Int, x: Int) {
            let perImage = tilesY * tilesX
            let image = t / perImage, within = t % perImage
            return (image, within / tilesX * 4, within % tilesX * 4)
        }
    }

    /// V_ξ [cin, tiles.count] (row stride `stride`, V_ξ at v + ξ·`positionStride`) = Bᵀ d B for
    /// each tile's 6x6 input patch d, 8 tiles per vector; taps outside the image are the padding's
    /// zeros.
    @_transparent
    public static func transformInput(
        _ input: UnsafePointer<Float>, grid: TileGrid, cin: Int, tiles: Range<Int>, into v: UnsafeMutablePointer<Float>,
        stride: Int, positionStride: Int, scratch patch: UnsafeMutablePointer<Float>
    ) {
        let (h, w) = (grid.h, grid.w), plane = h * w
        do {
            for t0 in Swift.stride(from: tiles.lowerBound, to: tiles.upperBound, by: 8) {
                let lanes = min(8, tiles.upperBound - t0)
                // Per lane, once for all channels: its patch's top-left tap (channel 0) and
                // whether the whole patch lies inside the image. Lanes past the block stay zero.
                var corner = InlineArray<8, (base: Int, y0: Int, x0: Int, inside: Bool)>(repeating: (0, 0, 0, false))
                for l in 0..<lanes {
                    let (image, oy, ox) = grid.origin(t0 + l)
                    let y0 = oy - 1, x0 = ox - 1
                    corner[l] = (image * cin * plane, y0, x0, y0 >= 0 && x0 >= 0 && y0 + 6 <= h && x0 + 6 <= w)
                }
                if lanes < 8 { patch.initialize(repeating: 0, count: 36 * 8) }
                for ci in 0..<cin {
                    // patch [36][8]: lane l holds tile t0 + l's 6x6 patch.
                    for l in 0..<lanes {
                        let (base, y0, x0, inside) = corner[l]
                        let src = input + base + ci * plane
                        if inside {
                            for r in 0..<6 {
                                let row = src + (y0 + r) * w + x0
                                for c in 0..<6 { patch[(r * 6 + c) * 8 + l] = row[c] }
                            }
                            continue
                        }
                        for r in 0..<6 {
                            let y = y0 + r
                            for c in 0..<6 {
                                let x = x0 + c
                                patch[(r * 6 + c) * 8 + l] = y >= 0 && y < h && x >= 0 && x < w ? src[y * w + x] : 0
                            }
                        }
                    }
                    var d = InlineArray<36, V8>(repeating: V8())
                    for k in 0..<36 { d[k] = UnsafeRawPointer(patch).load(fromByteOffset: k * 32, as: V8.self) }
                    // Bᵀ d: down each column; then · B: along each row.
                    for c in 0..<6 {
                        let y = inputTransform(d[c], d[6 + c], d[12 + c], d[18 + c], d[24 + c], d[30 + c])
                        for i in 0..<6 { d[i * 6 + c] = y[i] }
                    }
                    for i in 0..<6 {
                        let y = inputTransform(d[i * 6], d[i * 6 + 1], d[i * 6 + 2], d[i * 6 + 3], d[i * 6 + 4], d[i * 6 + 5])
                        for j in 0..<6 {
                            let at = v + (i * 6 + j) * positionStride + ci * stride + (t0 - tiles.lowerBound)
                            store(y[j], at, lanes: lanes)
                        }
                    }
                }
            }
        }
    }

    /// Bᵀ x for a 6-vector.
    @_transparent
    public static func inputTransform(_ x0: V8, _ x1: V8, _ x2: V8, _ x3: V8, _ x4: V8, _ x5: V8) -> InlineArray<6, V8> {
        let four = V8(repeating: 4), five = V8(repeating: 5), two = V8(repeating: 2)
        return [
            four * x0 - five * x2 + x4,
            x3 + x4 - four * (x1 + x2),
            x4 - x3 + four * (x1 - x2),
            x4 - x2 + two * (x3 - x1),
            x4 - x2 - two * (x3 - x1),
            four * x1 - five * x3 + x5,
        ]
    }

    /// Output tiles Y = Aᵀ m A (+ bias) of channels `channels` from M_ξ [channels.count, tiles]
    /// (row stride `stride`, M_ξ at m + ξ·`positionStride`), 8 tiles per vector; the parts of edge
    /// tiles outside the image are dropped.
    @_transparent
    public static func transformOutput(
        _ m: UnsafePointer<Float>, stride: Int, positionStride: Int, grid: TileGrid, channels: Range<Int>, cout: Int,
        tiles: Range<Int>, bias: UnsafePointer<Float>?, into output: UnsafeMutablePointer<Float>,
        scratch tile: UnsafeMutablePointer<Float>
    ) {
        let (h, w) = (grid.h, grid.w), plane = h * w, rows = channels.count
        do {
            for t0 in Swift.stride(from: tiles.lowerBound, to: tiles.upperBound, by: 8) {
                let lanes = min(8, tiles.upperBound - t0), column = t0 - tiles.lowerBound
                // Per lane, once for all channels: its first output (channel 0) and how much of
                // the 4x4 tile lies inside the image.
                var corner = InlineArray<8, (base: Int, rows: Int, columns: Int)>(repeating: (0, 0, 0))
                for l in 0..<lanes {
                    let (image, oy, ox) = grid.origin(t0 + l)
                    corner[l] = (image * cout * plane + oy * w + ox, min(4, h - oy), min(4, w - ox))
                }
                for (r, co) in channels.enumerated() {
                    var x = InlineArray<36, V8>(repeating: V8())
                    for k in 0..<36 { x[k] = load(m + k * positionStride + r * stride + column, lanes: lanes) }
                    // Aᵀ m: down each column (6x6 -> 4x6); then · A along each row (4x6 -> 4x4).
                    var y = InlineArray<24, V8>(repeating: V8())
                    for c in 0..<6 {
                        let o = outputTransform(x[c], x[6 + c], x[12 + c], x[18 + c], x[24 + c], x[30 + c])
                        for i in 0..<4 { y[i * 6 + c] = o[i] }
                    }
                    let b = V8(repeating: bias?[co] ?? 0)
                    for i in 0..<4 {
                        let o = outputTransform(y[i * 6], y[i * 6 + 1], y[i * 6 + 2], y[i * 6 + 3], y[i * 6 + 4], y[i * 6 + 5])
                        for j in 0..<4 {
                            UnsafeMutableRawPointer(tile + (i * 4 + j) * 8).storeBytes(of: o[j] + b, as: V8.self)
                        }
                    }
                    for l in 0..<lanes {
                        let (base, validRows, validColumns) = corner[l]
                        let dst = output + base + co * plane
                        for i in 0..<validRows {
                            for j in 0..<validColumns { dst[i * w + j] = tile[(i * 4 + j) * 8 + l] }
                        }
                    }
                }
            }
        }
    }

    /// Aᵀ x for a 6-vector.
    @_transparent
    public static func outputTransform(_ x0: V8, _ x1: V8, _ x2: V8, _ x3: V8, _ x4: V8, _ x5: V8) -> InlineArray<4, V8> {
        let two = V8(repeating: 2), four = V8(repeating: 4), eight = V8(repeating: 8)
        let sum12 = x1 + x2, difference12 = x1 - x2, sum34 = x3 + x4, difference34 = x3 - x4
        return [
            x0 + sum12 + sum34,
            difference12 + two * difference34,
            sum12 + four * sum34,
            difference12 + eight * difference34 + x5,
        ]
    }

    // MARK: - Partial vectors

    /// The first `lanes` floats at `p` (the rest zero): a whole vector when `lanes` is 8.
    @_transparent
    public static func load(_ p: UnsafePointer<Float>, lanes: Int) -> V8 {
        if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: V8.self) }
        var v = V8()
        for l in 0..<lanes { v[l] = p[l] }
        return v
    }

    /// Writes the first `lanes` lanes of `v` to `p`.
    @_transparent
    public static func store(_ v: V8, _ p: UnsafeMutablePointer<Float>, lanes: Int) {
        if lanes == 8 { return UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self) }
        for l in 0..<lanes { p[l] = v[l] }
    }
}
