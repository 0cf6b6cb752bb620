/// Winograd F(4x4, 3x3) for the `generic` kernel level (AVX2 and older x86, ARM64): the same
/// arithmetic as the AVX-512 path (`WinogradConvolution`) with portable Swift SIMD transforms and
/// the 36 GEMMs on OpenBLAS. A quarter of the direct convolution's multiplies, for 3x3, stride 1,
/// padding 1 convolutions over enough tiles (the VAE decoder, the UNet's larger levels).
///
/// Lavin & Gray's F(4x4, 3x3) with interpolation points 0, ±1, ±2, ∞ (engine reference, Winograd):
/// a 4x4 output tile Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A from the 6x6 input patch d around it and
/// the 3x3 filter g. For each of the 36 positions ξ of the 6x6 products the sum over input
/// channels is a GEMM: M_ξ [cout, tiles] = U_ξ [cout, cin] · V_ξ [cin, tiles].
///
/// The transformed filters U are 4x the f32 weight, so they are made per call, a block of output
/// channels within `maxFilterBytes` at a time (as on the AVX-512 path); workers take blocks of
/// tiles: transform the input into V, run the 36 GEMMs (OpenBLAS, one thread each) into M, and
/// transform M into the output. Transforms run on 8 tiles (or 8 input channels) per SIMD vector.
enum PortableWinogradConvolution {
    /// Bytes of transformed filters made at once (one block of output channels).
    static let maxFilterBytes = 24 << 20
    /// Bytes of one worker's transformed input (and about its GEMM output), which sets its tiles
    /// per block.
    static let maxPanelBytes = 8 << 20
    /// Fewer tiles than this and the transforms (the filters' above all, 4x the weight written per
    /// call) cost about what the multiplies save. Measured on Zen 4 with Debian's OpenBLAS
    /// (TensorBenchmark, generic level, GFLOP/s of the direct work): 1.5x the direct convolution
    /// at 64 tiles (VAE 1x512x32x32), 1.7-1.8x at 128 (UNet 2x320x32x32, 2x640x32x32), 2.3-2.4x at
    /// 256-512; at 32 and 8 tiles within noise of it (168 vs 153, 125 vs 119).
    static let minimumTiles = 64
    /// Fewer channels than this and the transforms dominate.
    static let minimumChannels = 32

    typealias V8 = SIMD8<Float>

    /// Whether `conv2d` should use this path for a convolution of this shape.
    static func accepts(_ g: ConvGeometry, cout: Int, batch: Int) -> Bool {
        guard g.kh == 3, g.kw == 3, g.strideY == 1, g.strideX == 1, g.padTop == 1, g.padLeft == 1,
            g.ho == g.h, g.wo == g.w, g.cin >= minimumChannels, cout >= minimumChannels, Conv2dTuning.winograd
        else { return false }
        return batch * ((g.h + 3) / 4) * ((g.w + 3) / 4) >= minimumTiles
    }

    /// out [batch, cout, h, w] = conv(input [batch, cin, h, w], weight) + bias, overwriting out.
    /// `filterBudget` bounds the transformed filters made at once (tests lower it).
    static func convolve(
        input: UnsafePointer<Float>, batch: Int, geometry g: ConvGeometry, cout: Int, weight: WeightMatrix,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, filterBudget: Int = maxFilterBytes
    ) {
        let cin = g.cin
        let grid = TileGrid(batch: batch, h: g.h, w: g.w)
        // Tiles per worker block: a multiple of 8 (whole SIMD groups) within `maxPanelBytes`, and
        // blocks in whole rounds of workers so none waits on another's extra block.
        let maxTiles = max(8, min(256, maxPanelBytes / (36 * cin * 4)) / 8 * 8)
        let threads = max(1, Parallel.threadCount)
        let rounds = ((grid.count + maxTiles - 1) / maxTiles + threads - 1) / threads
        let blockTiles = min(maxTiles, ((grid.count + rounds * threads - 1) / (rounds * threads) + 7) / 8 * 8)
        let blocks = (grid.count + blockTiles - 1) / blockTiles
        let blockRows = max(1, min(cout, filterBudget / (36 * cin * 4)))

        // Transformed filters and each worker's V and M are larger than the scratch pool keeps:
        // they come from the activation heap, so steady state maps nothing per call.
        let filterBytes = 36 * blockRows * cin * 4
        let u = LargeBlockHeap.shared.allocate(filterBytes).assumingMemoryBound(to: Float.self)
        defer { LargeBlockHeap.shared.free(u, bytes: filterBytes) }
        let workers = min(blocks, threads)
        let workerFloats = 36 * (cin + blockRows) * blockTiles
        let workspace = LargeBlockHeap.shared.allocate(workers * workerFloats * 4).assumingMemoryBound(to: Float.self)
        defer { LargeBlockHeap.shared.free(workspace, bytes: workers * workerFloats * 4) }

        for co0 in stride(from: 0, to: cout, by: blockRows) {
            let rows = min(blockRows, cout - co0)
            transformFilters(weight, rows: co0..<co0 + rows, cin: cin, into: u)
            // One contiguous run of tile blocks per worker, so each uses its own V and M.
            Parallel.forEach(workers) { range in
                for worker in range {
                    let v = workspace + worker * workerFloats, m = v + 36 * cin * blockTiles
                    for block in (blocks * worker / workers)..<(blocks * (worker + 1) / workers) {
                        let t0 = block * blockTiles, n = min(blockTiles, grid.count - t0)
                        transformInput(input, grid: grid, cin: cin, tiles: t0..<t0 + n, into: v, stride: blockTiles)
                        for xi in 0..<36 {
                            // M_ξ [rows, n] = U_ξ [rows, cin] · V_ξ [cin, n]
                            Gemm.sgemm(
                                m: rows, n: n, k: cin, a: u + xi * rows * cin, lda: cin, b: v + xi * cin * blockTiles,
                                ldb: blockTiles, beta: 0, c: m + xi * rows * blockTiles, ldc: blockTiles)
                        }
                        transformOutput(
                            m, stride: blockTiles, grid: grid, channels: co0..<co0 + rows, cout: cout, tiles: t0..<t0 + n,
                            bias: bias, into: output)
                    }
                }
            }
        }
    }

    /// 4x4 output tiles of the batch, numbered image by image, row by row.
    struct TileGrid {
        let batch, h, w, tilesY, tilesX: Int
        var count: Int { batch * tilesY * tilesX }

        init(batch: Int, h: Int, w: Int) {
            (self.batch, self.h, self.w, tilesY, tilesX) = (batch, h, w, (h + 3) / 4, (w + 3) / 4)
        }

        /// Image, first output row and first output column of tile `t`.
        @inline(__always)
        func origin(_ t: Int) -> (image: Int, y: Int, x: Int) {
            let perImage = tilesY * tilesX
            let image = t / perImage, within = t % perImage
            return (image, within / tilesX * 4, within % tilesX * 4)
        }
    }

    // MARK: - Filters

    /// U_ξ [rows.count, cin] for output channels `rows`: U = G g Gᵀ per (output, input) channel,
    /// 8 input channels per vector.
    static func transformFilters(_ weight: WeightMatrix, rows: Range<Int>, cin: Int, into u: UnsafeMutablePointer<Float>) {
        let count = rows.count
        Parallel.forEach(count, minChunk: max(1, 4096 / max(1, cin))) { range in
            ScratchBuffers.withBuffer(count: cin * 9) { decoded in
                for r in range {
                    // [cin, 3, 3]: input channel ci's filter at ci·9.
                    weight.decodeRow(rows.lowerBound + r, into: decoded)
                    let filters = UnsafePointer(decoded)
                    for ci in stride(from: 0, to: cin, by: 8) {
                        let lanes = min(8, cin - ci)
                        var g = InlineArray<9, V8>(repeating: V8())
                        for k in 0..<9 {
                            for l in 0..<lanes { g[k][l] = filters[(ci + l) * 9 + k] }
                        }
                        // G g: down each of the 3 kernel columns (3x3 -> 6x3); then · Gᵀ along rows.
                        var t = InlineArray<18, V8>(repeating: V8())
                        for c in 0..<3 {
                            let z = filterTransform(g[c], g[3 + c], g[6 + c])
                            for i in 0..<6 { t[i * 3 + c] = z[i] }
                        }
                        for i in 0..<6 {
                            let z = filterTransform(t[i * 3], t[i * 3 + 1], t[i * 3 + 2])
                            for j in 0..<6 {
                                store(z[j], u + (i * 6 + j) * count * cin + r * cin + ci, lanes: lanes)
                            }
                        }
                    }
                }
            }
        }
    }

    /// G x for a 3-vector.
    @inline(__always)
    static func filterTransform(_ x0: V8, _ x1: V8, _ x2: V8) -> InlineArray<6, V8> {
        let quarter = V8(repeating: 0.25), sixth = V8(repeating: 1.0 / 6), twelfth = V8(repeating: 1.0 / 12)
        let twentyFourth = V8(repeating: 1.0 / 24)
        return [
            x0 * quarter,
            -(x0 + x1 + x2) * sixth,
            -(x0 - x1 + x2) * sixth,
            x0 * twentyFourth + x1 * twelfth + x2 * sixth,
            x0 * twentyFourth - x1 * twelfth + x2 * sixth,
            x2,
        ]
    }

    // MARK: - Input

    /// V_ξ [cin, tiles.count] (row stride `stride`) = Bᵀ d B for each tile's 6x6 input patch d,
    /// 8 tiles per vector; taps outside the image are the padding's zeros.
    static func transformInput(
        _ input: UnsafePointer<Float>, grid: TileGrid, cin: Int, tiles: Range<Int>, into v: UnsafeMutablePointer<Float>,
        stride: Int
    ) {
        let (h, w) = (grid.h, grid.w), plane = h * w
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 36 * 8) { patch in
            let patch = patch.baseAddress!
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
                            store(y[j], v + ((i * 6 + j) * cin + ci) * stride + (t0 - tiles.lowerBound), lanes: lanes)
                        }
                    }
                }
            }
        }
    }

    /// Bᵀ x for a 6-vector.
    @inline(__always)
    static func inputTransform(_ x0: V8, _ x1: V8, _ x2: V8, _ x3: V8, _ x4: V8, _ x5: V8) -> InlineArray<6, V8> {
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

    // MARK: - Output

    /// Output tiles Y = Aᵀ m A (+ bias) of channels `channels` from M_ξ [channels.count, tiles]
    /// (row stride `stride`), 8 tiles per vector; the parts of edge tiles outside the image are
    /// dropped.
    static func transformOutput(
        _ m: UnsafePointer<Float>, stride: Int, grid: TileGrid, channels: Range<Int>, cout: Int, tiles: Range<Int>,
        bias: UnsafePointer<Float>?, into output: UnsafeMutablePointer<Float>
    ) {
        let (h, w) = (grid.h, grid.w), plane = h * w, rows = channels.count
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * 8) { tile in
            let tile = tile.baseAddress!
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
                    for k in 0..<36 { x[k] = load(m + (k * rows + r) * stride + column, lanes: lanes) }
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
    @inline(__always)
    static func outputTransform(_ x0: V8, _ x1: V8, _ x2: V8, _ x3: V8, _ x4: V8, _ x5: V8) -> InlineArray<4, V8> {
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
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, lanes: Int) -> V8 {
        if lanes == 8 { return UnsafeRawPointer(p).loadUnaligned(as: V8.self) }
        var v = V8()
        for l in 0..<lanes { v[l] = p[l] }
        return v
    }

    /// Writes the first `lanes` lanes of `v` to `p`.
    @inline(__always)
    static func store(_ v: V8, _ p: UnsafeMutablePointer<Float>, lanes: Int) {
        if lanes == 8 { return UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self) }
        for l in 0..<lanes { p[l] = v[l] }
    }
}
