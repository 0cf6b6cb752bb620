#if arch(x86_64)
import CSIMD
import SIMDMath

/// The transforms of a Winograd F(4x4, 3x3) convolution, after Lavin & Gray, "Fast Algorithms for
/// Convolutional Neural Networks" (CVPR 2016), interpolation points 0, ±1, ±2, ∞.
///
/// A 3x3 filter g over a 6x6 input tile d gives the 4x4 output tile
/// Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A: 36 multiplies in place of 144. Summed over input channels, the
/// 36 element-wise products become 36 GEMMs M_ξ[Cout, tiles] = U_ξ[Cout, Cin] · V_ξ[Cin, tiles]
/// (ξ = 6·row + column of the transformed tile), which `AVX512Gemm` runs on operands written here
/// straight into its packed layouts: U_ξ as A slivers, V_ξ as one B panel, so nothing is packed
/// twice. Tiles are processed 16 at a time, one per SIMD lane: read from zero-padded copies of
/// the image rows, de-interleaved with `vpermt2ps` (images whose tile rows are whole 4-tile runs,
/// every SD size) or gathered with masks (other widths), and scattered to the output with masks
/// for its edge.
///
/// Every function is single-threaded and requires AVX-512 F; `WinogradConvolution` in Tensor
/// drives them.
package enum AVX512Winograd {
    /// ξ runs over the 6x6 transformed tile.
    package static let positions = 36
    /// Tiles per block: one 64-column B sliver, so each V_ξ of a block is one packed panel.
    package static let blockTiles = AVX512Gemm.nr
    /// Input channels transformed at once: one f32 K block of the GEMM.
    package static let channelChunk = AVX512Gemm.kc(.float32)
    /// Floats from one position's V panel, [channelChunk][blockTiles], to the next, padded
    /// (`WinogradF4x3.positionStride`): `transformInput` stores to all 36 at once.
    package static let panelFloats = WinogradF4x3.positionStride(floats: channelChunk * blockTiles)
    /// Floats from one position's M, `rows` rows of `blockTiles`, to the next, padded as the
    /// panels are: `transformOutput` reads all 36 at once.
    package static func mStride(rows: Int) -> Int { WinogradF4x3.positionStride(floats: rows * blockTiles) }
    /// Floats of the per-worker scratch of `transformInput` / `transformOutput`.
    package static let transformScratchFloats = positions * 16

    /// Where the 3x3 filters come from: the weight matrix [Cout, Cin·9], as f32 rows or as the
    /// A operand the direct convolution packed (f32 or bf16).
    package enum WeightSource {
        case dense(UnsafePointer<Float>)
        case packed(PackedOperand)
    }

    /// Bytes from one position's U to the next for `rows` output channels: the operand, padded
    /// (`WinogradF4x3.positionStride`) since `transformWeights` writes all 36 at once. Unpadded,
    /// cin of 128·k with blocks of 24 or 516 rows put the 36 streams in one L1 set, and the filter
    /// transform of 2x1280x16x16 took 3x the time of its GEMMs (Zen 5).
    package static func positionBytes(rows: Int, cin: Int) -> Int {
        let bytes = PackedOperand.byteCount(precision: .float32, outer: rows, k: cin, width: AVX512Gemm.mr)
        return WinogradF4x3.positionStride(floats: bytes / 4) * 4
    }

    /// The A operand U_ξ of a block of `rows` output channels, in a buffer of 36 positions.
    package static func weightOperand(_ u: UnsafeRawPointer, position: Int, rows: Int, cin: Int) -> PackedOperand {
        PackedOperand(
            base: u + position * positionBytes(rows: rows, cin: cin), precision: .float32, outer: rows, k: cin,
            width: AVX512Gemm.mr)
    }

    // MARK: - Weights

    /// Writes U = G g Gᵀ for the output channels `firstRow + 6·s ..< firstRow + 6·s + 6`, s in
    /// `slivers`, into the 36 A operands of a block of `blockRows` channels starting at `firstRow`
    /// (see `weightOperand`). Channels at or past `cout` get zeros.
    package static func transformWeights(
        _ source: WeightSource, cout: Int, cin: Int, firstRow: Int, blockRows: Int, slivers: Range<Int>,
        into u: UnsafeMutableRawPointer
    ) {
        let layout = weightOperand(u, position: 0, rows: blockRows, cin: cin)
        let positionStride = positionBytes(rows: blockRows, cin: cin)
        let columns = cin * 9
        // One sliver's weight rows, a vector of 6 output channels per column (lanes 6, 7 zero).
        let taps = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: columns)
        defer { taps.deallocate() }
        for s in slivers {
            let row0 = firstRow + s * AVX512Gemm.mr
            readSliver(source, row0: row0, valid: max(0, min(AVX512Gemm.mr, cout - row0)), columns: columns, into: taps)
            for c0 in stride(from: 0, to: cin, by: channelChunk) {
                let blockOffset = layout.sliver(s, kBlock: c0) - UnsafeRawPointer(u)
                for c in c0..<min(cin, c0 + channelChunk) {
                    let at = u + blockOffset + (c - c0) * AVX512Gemm.mr * 4
                    let g = taps + c * 9
                    // Along x, each filter row ky: h[ky][j].
                    let h0 = filter1D(g[0], g[1], g[2]), h1 = filter1D(g[3], g[4], g[5])
                    let h2 = filter1D(g[6], g[7], g[8])
                    // Along y, each column j: u[i][j], to position 6·i + j.
                    filterColumn(h0.0, h1.0, h2.0, at, positionStride)
                    filterColumn(h0.1, h1.1, h2.1, at + positionStride, positionStride)
                    filterColumn(h0.2, h1.2, h2.2, at + 2 * positionStride, positionStride)
                    filterColumn(h0.3, h1.3, h2.3, at + 3 * positionStride, positionStride)
                    filterColumn(h0.4, h1.4, h2.4, at + 4 * positionStride, positionStride)
                    filterColumn(h0.5, h1.5, h2.5, at + 5 * positionStride, positionStride)
                }
            }
        }
    }

    /// Weight rows `row0 ..< row0 + valid` (≤ 6, a sliver of the packed operand), every column,
    /// as vectors of the 6 rows; rows past `valid` are zero.
    private static func readSliver(
        _ source: WeightSource, row0: Int, valid: Int, columns: Int, into taps: UnsafeMutablePointer<SIMD8<Float>>
    ) {
        switch source {
        case .dense(let w):
            taps.initialize(repeating: SIMD8(), count: columns)
            for r in 0..<valid {
                let row = w + (row0 + r) * columns
                for k in 0..<columns { taps[k][r] = row[k] }
            }
        case .packed(let operand):
            // Blocks of output channels are whole slivers, so the rows are one sliver of the operand.
            assert(row0 % AVX512Gemm.mr == 0, "readSliver: rows from \(row0) straddle two slivers")
            let kc = AVX512Gemm.kc(operand.precision)
            for p0 in stride(from: 0, to: columns, by: kc) {
                let base = operand.sliver(row0 / AVX512Gemm.mr, kBlock: p0)
                let kb = min(kc, columns - p0)
                switch operand.precision {
                case .float32:
                    // [kb][6] floats.
                    for kk in 0..<kb { taps[p0 + kk] = loadSix(base + kk * 24, as: Float.self) }
                case .bfloat16:
                    // [kb/2][6] words, each the bf16 pair (k even in the low half, odd in the high).
                    for kk in stride(from: 0, to: kb, by: 2) {
                        let words = loadSix(base + kk / 2 * 24, as: UInt32.self)
                        taps[p0 + kk] = unsafeBitCast(words &<< 16, to: SIMD8<Float>.self)
                        if kk + 1 < kb { taps[p0 + kk + 1] = unsafeBitCast(words & 0xFFFF_0000, to: SIMD8<Float>.self) }
                    }
                }
            }
        }
    }

    /// Six 4-byte values at p in lanes 0..<6, zeros in lanes 6 and 7.
    @inline(__always)
    private static func loadSix<T: SIMDScalar>(_ p: UnsafeRawPointer, as: T.Type) -> SIMD8<T> {
        let low = p.loadUnaligned(as: SIMD4<T>.self), high = p.loadUnaligned(fromByteOffset: 16, as: SIMD2<T>.self)
        return SIMD8(lowHalf: low, highHalf: SIMD4(lowHalf: high, highHalf: SIMD2()))
    }

    /// G·(a, b, c), column j of the filter's x-transform, stored to positions 6·i + j (i = 0..<6):
    /// `at` is position j's address, `stride` the bytes between positions.
    @inline(__always)
    private static func filterColumn(
        _ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ at: UnsafeMutableRawPointer, _ stride: Int
    ) {
        let t = filter1D(a, b, c)
        let step = 6 * stride
        storeSix(t.0, at)
        storeSix(t.1, at + step)
        storeSix(t.2, at + 2 * step)
        storeSix(t.3, at + 3 * step)
        storeSix(t.4, at + 4 * step)
        storeSix(t.5, at + 5 * step)
    }

    /// G·(g0, g1, g2) for the 6 rows of G.
    @inline(__always)
    private static func filter1D(_ g0: SIMD8<Float>, _ g1: SIMD8<Float>, _ g2: SIMD8<Float>) -> (
        SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>
    ) {
        let s = g0 + g2, t = g0 * (1 / 24 as Float) + g2 * (1 / 6 as Float), odd = g1 * (1 / 12 as Float)
        return (g0 * 0.25, (s + g1) * (-1 / 6 as Float), (s - g1) * (-1 / 6 as Float), t + odd, t - odd, g2)
    }

    /// Stores lanes 0..<6 (the six output channels of an A sliver row).
    @inline(__always)
    private static func storeSix(_ v: SIMD8<Float>, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: v.lowHalf, as: SIMD4<Float>.self)
        p.storeBytes(of: v.highHalf.lowHalf, toByteOffset: 16, as: SIMD2<Float>.self)
    }
}

// MARK: - Tiles

extension AVX512Winograd {
    /// Up to 16 tiles, one per SIMD lane, of a batch of images: where each tile's input and output
    /// corners are, and which of its rows and columns lie inside the image.
    package struct TileGroup {
        /// Element offset of each tile's input corner (row 4·ty − 1, column 4·tx − 1, which may lie
        /// in the padding) from the input's start.
        var input = SIMD16<Int32>()
        /// Element offset of each tile's output corner (4·ty, 4·tx) from the output's start.
        var output = SIMD16<Int32>()
        /// Bit l of element r: row r (0..<6) of tile l's input lies inside the image.
        var inputRows = SIMD8<UInt16>()
        /// Bit l of element c: column c of tile l's input lies inside the image.
        var inputColumns = SIMD8<UInt16>()
        /// Bit l of element i: output row i (0..<4) of tile l lies inside the image.
        var outputRows = SIMD4<UInt16>()
        /// Bit l of element j: output column j of tile l lies inside the image.
        var outputColumns = SIMD4<UInt16>()

        /// Tiles `first ..< first + count` (count ≤ 16) in (image, tile row, tile column) order,
        /// for images [Cin, h, w] in and [Cout, h, w] out (`inputImage` = Cin·h·w floats,
        /// `outputImage` = Cout·h·w). Offsets must fit in Int32 (callers check the sizes).
        package init(first: Int, count: Int, h: Int, w: Int, inputImage: Int, outputImage: Int) {
            let tilesX = (w + 3) / 4, tilesY = (h + 3) / 4
            for lane in 0..<min(count, 16) {
                let tile = first + lane
                let image = tile / (tilesX * tilesY), ty = (tile / tilesX) % tilesY, tx = tile % tilesX
                let y0 = 4 * ty, x0 = 4 * tx
                input[lane] = Int32(image * inputImage + (y0 - 1) * w + (x0 - 1))
                output[lane] = Int32(image * outputImage + y0 * w + x0)
                let bit = UInt16(1) << UInt16(lane)
                for r in 0..<6 {
                    if (0..<h).contains(y0 - 1 + r) { inputRows[r] |= bit }
                    if (0..<w).contains(x0 - 1 + r) { inputColumns[r] |= bit }
                }
                for i in 0..<4 {
                    if y0 + i < h { outputRows[i] |= bit }
                    if x0 + i < w { outputColumns[i] |= bit }
                }
            }
        }
    }

    // MARK: - Input

    /// One block of tiles (at most `blockTiles`, consecutive in (image, tile row, tile column)
    /// order) of a batch of images [C, h, w].
    package struct TileBlock {
        package let first, count, h, w: Int
        /// Floats per input image (Cin·h·w).
        let inputImage: Int
        let tilesX, tilesY: Int
        package let groups: UnsafeBufferPointer<TileGroup>

        /// `groups` holds the block's `TileGroup`s, 16 tiles each.
        package init(first: Int, count: Int, h: Int, w: Int, inputImage: Int, groups: UnsafeBufferPointer<TileGroup>) {
            (self.first, self.count, self.h, self.w) = (first, count, h, w)
            (self.inputImage, self.groups) = (inputImage, groups)
            (tilesX, tilesY) = ((w + 3) / 4, (h + 3) / 4)
        }

        /// Whether the input is read through zero-padded lines (runs of 4 tiles never cross a tile
        /// row) rather than gathered element by element.
        var readsLines: Bool { tilesX % 4 == 0 }
        /// Floats of one padded line: the image row with a zero on the left and zeros past its end,
        /// as far as the last 4-tile run's 16-float loads reach.
        var lineFloats: Int { 4 * tilesX + 8 }
        /// The tile rows (image · tilesY + tile row) the block touches.
        var tileRows: ClosedRange<Int> { first / tilesX...(first + count - 1) / tilesX }

        /// Floats of the staging `transformInput` needs for blocks of images this wide.
        package static func stagingFloats(w: Int) -> Int {
            let tilesX = (w + 3) / 4, line = 4 * tilesX + 8
            // Lines of every tile row a block touches, and one line of zeros.
            return ((blockTiles + tilesX - 1) / tilesX + 1) * 6 * line + line
        }
    }

    /// Writes V = Bᵀ d B for input channels `channels` (at most `channelChunk`) of one block of
    /// tiles into 36 panels at `v`, each [channels][64] (the B layout of one K block; position ξ
    /// at v + ξ·panelFloats). `input` is the batch's start; `scratch` holds
    /// `transformScratchFloats` and `staging` `TileBlock.stagingFloats(w:)`.
    package static func transformInput(
        input: UnsafePointer<Float>, block: TileBlock, channels: Range<Int>, into v: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, staging: UnsafeMutablePointer<Float>
    ) {
        let plane = block.h * block.w
        let lineFloats = block.lineFloats, tileRows = block.tileRows
        let zeros = staging + tileRows.count * 6 * lineFloats
        if block.readsLines { zeros.initialize(repeating: 0, count: lineFloats) }
        for channel in channels {
            let image = input + channel * plane
            let row = (channel - channels.lowerBound) * blockTiles
            if block.readsLines {
                // Rows 4·ty − 1 ..< 4·ty + 5 of each tile row, zero-padded (line index = x + 1),
                // over the stretch the block's tiles in that row read.
                for tileRow in tileRows {
                    let (b, ty) = tileRow.quotientAndRemainder(dividingBy: block.tilesY)
                    let rowStart = tileRow * block.tilesX
                    let firstTile = max(block.first, rowStart) - rowStart
                    let endTile = min(block.first + block.count, rowStart + block.tilesX) - rowStart
                    let span = 4 * firstTile..<min(lineFloats, 4 * endTile + 8)
                    // Where the image row lies in that stretch.
                    let inside = max(span.lowerBound, 1)..<min(span.upperBound, block.w + 1)
                    for r in 0..<6 {
                        let line = staging + ((tileRow - tileRows.lowerBound) * 6 + r) * lineFloats
                        let y = 4 * ty - 1 + r
                        guard y >= 0 && y < block.h && !inside.isEmpty else {
                            (line + span.lowerBound).initialize(repeating: 0, count: span.count)
                            continue
                        }
                        (line + span.lowerBound).initialize(repeating: 0, count: inside.lowerBound - span.lowerBound)
                        (line + inside.lowerBound).initialize(
                            from: image + b * block.inputImage + y * block.w + inside.lowerBound - 1, count: inside.count)
                        (line + inside.upperBound).initialize(repeating: 0, count: span.upperBound - inside.upperBound)
                    }
                }
            }
            for (index, group) in block.groups.enumerated() {
                let t = UnsafeMutableRawPointer(scratch)
                // Along x, each of the 6 rows: t[r][k].
                for r in 0..<6 {
                    let d: (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>)
                    if block.readsLines {
                        // The 4-tile runs of the group: their padded line of row r, at their first tile.
                        func run(_ j: Int) -> UnsafePointer<Float> {
                            let tile = block.first + 16 * index + 4 * j
                            guard tile < block.first + block.count else { return UnsafePointer(zeros) }
                            let (tileRow, tx) = tile.quotientAndRemainder(dividingBy: block.tilesX)
                            return UnsafePointer(staging + ((tileRow - tileRows.lowerBound) * 6 + r) * lineFloats + 4 * tx)
                        }
                        let q0 = run(0), q1 = run(1), q2 = run(2), q3 = run(3)
                        func load(_ c: Int) -> SIMD16<Float> { deinterleave(q0, q1, q2, q3, column: c) }
                        d = input1D(load(0), load(1), load(2), load(3), load(4), load(5))
                    } else {
                        let rowMask = group.inputRows[r]
                        let corner = group.input &+ Int32(truncatingIfNeeded: r * block.w + channel * plane)
                        func load(_ c: Int) -> SIMD16<Float> {
                            gather(input, rowMask & group.inputColumns[c], corner &+ Int32(truncatingIfNeeded: c))
                        }
                        d = input1D(load(0), load(1), load(2), load(3), load(4), load(5))
                    }
                    let out = t + r * 6 * 64
                    out.storeBytes(of: d.0, toByteOffset: 0, as: SIMD16<Float>.self)
                    out.storeBytes(of: d.1, toByteOffset: 64, as: SIMD16<Float>.self)
                    out.storeBytes(of: d.2, toByteOffset: 128, as: SIMD16<Float>.self)
                    out.storeBytes(of: d.3, toByteOffset: 192, as: SIMD16<Float>.self)
                    out.storeBytes(of: d.4, toByteOffset: 256, as: SIMD16<Float>.self)
                    out.storeBytes(of: d.5, toByteOffset: 320, as: SIMD16<Float>.self)
                }
                // Along y, each column k: V[i][k], to panel ξ = 6·i + k.
                let at = v + row + index * 16
                for k in 0..<6 {
                    func load(_ r: Int) -> SIMD16<Float> {
                        t.loadUnaligned(fromByteOffset: (r * 6 + k) * 64, as: SIMD16<Float>.self)
                    }
                    let e = input1D(load(0), load(1), load(2), load(3), load(4), load(5))
                    store(e.0, at + (0 * 6 + k) * panelFloats)
                    store(e.1, at + (1 * 6 + k) * panelFloats)
                    store(e.2, at + (2 * 6 + k) * panelFloats)
                    store(e.3, at + (3 * 6 + k) * panelFloats)
                    store(e.4, at + (4 * 6 + k) * panelFloats)
                    store(e.5, at + (5 * 6 + k) * panelFloats)
                }
            }
        }
    }

    /// Column c (0..<6) of 16 tiles, four 4-tile runs whose 6-column windows start at q0...q3
    /// (consecutive tiles 4 floats apart): lane 4·j + l is q_j[4·l + c].
    @inline(__always)
    private static func deinterleave(
        _ q0: UnsafePointer<Float>, _ q1: UnsafePointer<Float>, _ q2: UnsafePointer<Float>, _ q3: UnsafePointer<Float>,
        column c: Int
    ) -> SIMD16<Float> {
        // Columns 4 and 5 are columns 0 and 1 of the window one tile on.
        let shift = c >= 4 ? 4 : 0
        let first = SIMD16<Int32>(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28) &+ Int32(c & 3)
        let index = unsafeBitCast(first, to: SIMD8<Int64>.self)
        func load(_ q: UnsafePointer<Float>) -> SIMD16<Float> {
            UnsafeRawPointer(q + shift).loadUnaligned(as: SIMD16<Float>.self)
        }
        // Lanes 0..<8 from runs 0 and 1 (the 32 floats of q0 then q1), lanes 8..<16 from runs 2 and 3.
        let low = sd_permutex2var_ps(load(q0), index, load(q1))
        let high = sd_permutex2var_ps(load(q2), index, load(q3))
        return low.replacing(with: high, where: upperLanes)
    }

    private static let upperLanes = SIMD16<Int32>(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1) .!= 0

    /// Bᵀ·(d0, ..., d5).
    @inline(__always)
    private static func input1D(
        _ d0: SIMD16<Float>, _ d1: SIMD16<Float>, _ d2: SIMD16<Float>, _ d3: SIMD16<Float>, _ d4: SIMD16<Float>,
        _ d5: SIMD16<Float>
    ) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let four = SIMD16<Float>(repeating: 4), five = SIMD16<Float>(repeating: 5), two = SIMD16<Float>(repeating: 2)
        let e0 = (d4 - five * d2).addingProduct(four, d0)
        let e1 = (d3 + d4).addingProduct(-four, d1 + d2)
        let e2 = (d4 - d3).addingProduct(four, d1 - d2)
        let e3 = (d4 - d2).addingProduct(two, d3 - d1)
        let e4 = (d4 - d2).addingProduct(two, d1 - d3)
        let e5 = (d5 - five * d3).addingProduct(four, d1)
        return (e0, e1, e2, e3, e4, e5)
    }

    // MARK: - Output

    /// Writes Y = Aᵀ M A (+ bias) for rows `rows` of M, output channels `firstChannel + row`, of one
    /// block of tiles (`groups`). M holds 36 matrices [rows][64] at m + ξ·positionStride floats;
    /// `output` is the batch's start, `plane` = h·w; `scratch` holds `transformScratchFloats`.
    package static func transformOutput(
        m: UnsafePointer<Float>, positionStride: Int, rows: Range<Int>, firstChannel: Int,
        groups: UnsafeBufferPointer<TileGroup>, bias: UnsafePointer<Float>?, plane: Int, w: Int,
        into output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        let s = UnsafeMutableRawPointer(scratch)
        for row in rows {
            let channel = firstChannel + row
            let base = output + channel * plane
            let shift = SIMD16<Float>(repeating: bias?[channel] ?? 0)
            for (index, group) in groups.enumerated() {
                let at = m + row * blockTiles + index * 16
                // Along x, each of the 6 rows: s[i][j].
                for i in 0..<6 {
                    func load(_ k: Int) -> SIMD16<Float> {
                        UnsafeRawPointer(at + (i * 6 + k) * positionStride).loadUnaligned(as: SIMD16<Float>.self)
                    }
                    let y = output1D(load(0), load(1), load(2), load(3), load(4), load(5))
                    let out = s + i * 4 * 64
                    out.storeBytes(of: y.0, toByteOffset: 0, as: SIMD16<Float>.self)
                    out.storeBytes(of: y.1, toByteOffset: 64, as: SIMD16<Float>.self)
                    out.storeBytes(of: y.2, toByteOffset: 128, as: SIMD16<Float>.self)
                    out.storeBytes(of: y.3, toByteOffset: 192, as: SIMD16<Float>.self)
                }
                // Along y, each column j: Y[i][j], scattered to the image.
                for j in 0..<4 {
                    func load(_ i: Int) -> SIMD16<Float> {
                        s.loadUnaligned(fromByteOffset: (i * 4 + j) * 64, as: SIMD16<Float>.self)
                    }
                    let y = output1D(load(0), load(1), load(2), load(3), load(4), load(5))
                    let columnMask = group.outputColumns[j]
                    let corner = group.output &+ Int32(truncatingIfNeeded: j), row = Int32(truncatingIfNeeded: w)
                    scatter(base, group.outputRows[0] & columnMask, corner, y.0 + shift)
                    scatter(base, group.outputRows[1] & columnMask, corner &+ row, y.1 + shift)
                    scatter(base, group.outputRows[2] & columnMask, corner &+ 2 &* row, y.2 + shift)
                    scatter(base, group.outputRows[3] & columnMask, corner &+ 3 &* row, y.3 + shift)
                }
            }
        }
    }

    /// Aᵀ·(m0, ..., m5).
    @inline(__always)
    private static func output1D(
        _ m0: SIMD16<Float>, _ m1: SIMD16<Float>, _ m2: SIMD16<Float>, _ m3: SIMD16<Float>, _ m4: SIMD16<Float>,
        _ m5: SIMD16<Float>
    ) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4
        return (
            m0 + a + c, b.addingProduct(SIMD16(repeating: 2), d), a.addingProduct(SIMD16(repeating: 4), c),
            (b + m5).addingProduct(SIMD16(repeating: 8), d)
        )
    }

    // MARK: - Memory

    @inline(__always)
    private static func gather(_ base: UnsafePointer<Float>, _ mask: UInt16, _ index: SIMD16<Int32>) -> SIMD16<Float> {
        mask == 0 ? SIMD16() : sd_mask_gather_ps(mask, unsafeBitCast(index, to: SIMD8<Int64>.self), base)
    }

    @inline(__always)
    private static func scatter(
        _ base: UnsafeMutablePointer<Float>, _ mask: UInt16, _ index: SIMD16<Int32>, _ values: SIMD16<Float>
    ) {
        if mask != 0 { sd_mask_scatter_ps(base, mask, unsafeBitCast(index, to: SIMD8<Int64>.self), values) }
    }

    @inline(__always)
    private static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }
}
#endif
