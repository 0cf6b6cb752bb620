import SIMDMath
import TensorKernelsAVX2

/// Winograd F(4x4, 3x3) for the OpenBLAS levels (`avx2`, `generic`): the same arithmetic as the
/// AVX-512 path (`WinogradConvolution`) with portable Swift SIMD transforms (`WinogradF4x3`, built
/// for AVX2 at the `avx2` level) and the 36 GEMMs on OpenBLAS. A quarter of the direct
/// convolution's multiplies, for 3x3, stride 1, padding 1 convolutions over enough tiles (the VAE
/// decoder, the UNet's larger levels).
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
        let grid = WinogradF4x3.TileGrid(batch: batch, h: g.h, w: g.w)
        // Tiles per worker block: a multiple of 8 (whole SIMD groups) within `maxPanelBytes`, and
        // blocks in whole rounds of workers so none waits on another's extra block.
        let maxTiles = max(8, min(256, maxPanelBytes / (36 * cin * 4)) / 8 * 8)
        let threads = max(1, Parallel.threadCount)
        let level = CPUKernels.active
        let rounds = ((grid.count + maxTiles - 1) / maxTiles + threads - 1) / threads
        let blockTiles = min(maxTiles, ((grid.count + rounds * threads - 1) / (rounds * threads) + 7) / 8 * 8)
        let blocks = (grid.count + blockTiles - 1) / blockTiles
        let blockRows = max(1, min(cout, filterBudget / (36 * cin * 4)))
        // Floats between positions ξ of V and of a full block's U and M (see `positionStride`).
        let vStride = WinogradF4x3.positionStride(floats: cin * blockTiles)
        let mStride = WinogradF4x3.positionStride(floats: blockRows * blockTiles)

        // Transformed filters and each worker's V and M are larger than the scratch pool keeps:
        // they come from the activation heap, so steady state maps nothing per call.
        let filterBytes = 36 * WinogradF4x3.positionStride(floats: blockRows * cin) * 4
        let u = LargeBlockHeap.shared.allocate(filterBytes).assumingMemoryBound(to: Float.self)
        defer { LargeBlockHeap.shared.free(u, bytes: filterBytes) }
        let workers = min(blocks, threads)
        let workerFloats = 36 * (vStride + mStride) + WinogradF4x3.scratchFloats
        let workspace = LargeBlockHeap.shared.allocate(workers * workerFloats * 4).assumingMemoryBound(to: Float.self)
        defer { LargeBlockHeap.shared.free(workspace, bytes: workers * workerFloats * 4) }

        for co0 in stride(from: 0, to: cout, by: blockRows) {
            let rows = min(blockRows, cout - co0)
            let uStride = WinogradF4x3.positionStride(floats: rows * cin)
            transformFilters(weight, rows: co0..<co0 + rows, cin: cin, into: u, positionStride: uStride)
            // One contiguous run of tile blocks per worker, so each uses its own V and M.
            Parallel.forEach(workers) { range in
                for worker in range {
                    let v = workspace + worker * workerFloats, m = v + 36 * vStride
                    let scratch = m + 36 * mStride
                    for block in (blocks * worker / workers)..<(blocks * (worker + 1) / workers) {
                        let t0 = block * blockTiles, n = min(blockTiles, grid.count - t0)
                        transformInput(
                            input, grid: grid, cin: cin, tiles: t0..<t0 + n, into: v, stride: blockTiles,
                            positionStride: vStride, scratch: scratch, level)
                        for xi in 0..<36 {
                            // M_ξ [rows, n] = U_ξ [rows, cin] · V_ξ [cin, n]
                            Gemm.sgemm(
                                m: rows, n: n, k: cin, a: u + xi * uStride, lda: cin, b: v + xi * vStride,
                                ldb: blockTiles, beta: 0, c: m + xi * mStride, ldc: blockTiles)
                        }
                        transformOutput(
                            m, stride: blockTiles, positionStride: mStride, grid: grid, channels: co0..<co0 + rows,
                            cout: cout, tiles: t0..<t0 + n, bias: bias, into: output, scratch: scratch, level)
                    }
                }
            }
        }
    }

    /// The input transform (`WinogradF4x3`) as built for `level`.
    @inline(__always)
    static func transformInput(
        _ input: UnsafePointer<Float>, grid: WinogradF4x3.TileGrid, cin: Int, tiles: Range<Int>,
        into v: UnsafeMutablePointer<Float>, stride: Int, positionStride: Int, scratch: UnsafeMutablePointer<Float>,
        _ level: KernelLevel
    ) {
        #if arch(x86_64)
        if level >= .avx2 {
            return AVX2Winograd.transformInput(
                input, grid: grid, cin: cin, tiles: tiles, into: v, stride: stride, positionStride: positionStride,
                scratch: scratch)
        }
        #endif
        WinogradF4x3.transformInput(
            input, grid: grid, cin: cin, tiles: tiles, into: v, stride: stride, positionStride: positionStride,
            scratch: scratch)
    }

    /// The output transform (`WinogradF4x3`) as built for `level`.
    @inline(__always)
    static func transformOutput(
        _ m: UnsafePointer<Float>, stride: Int, positionStride: Int, grid: WinogradF4x3.TileGrid, channels: Range<Int>,
        cout: Int, tiles: Range<Int>, bias: UnsafePointer<Float>?, into output: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, _ level: KernelLevel
    ) {
        #if arch(x86_64)
        if level >= .avx2 {
            return AVX2Winograd.transformOutput(
                m, stride: stride, positionStride: positionStride, grid: grid, channels: channels, cout: cout,
                tiles: tiles, bias: bias, into: output, scratch: scratch)
        }
        #endif
        WinogradF4x3.transformOutput(
            m, stride: stride, positionStride: positionStride, grid: grid, channels: channels, cout: cout, tiles: tiles,
            bias: bias, into: output, scratch: scratch)
    }

    // MARK: - Filters

    /// U_ξ [rows.count, cin] (at u + ξ·`positionStride`) for output channels `rows`: U = G g Gᵀ
    /// per (output, input) channel, 8 input channels per vector.
    static func transformFilters(
        _ weight: WeightMatrix, rows: Range<Int>, cin: Int, into u: UnsafeMutablePointer<Float>, positionStride: Int
    ) {
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
                                WinogradF4x3.store(z[j], u + (i * 6 + j) * positionStride + r * cin + ci, lanes: lanes)
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
}
