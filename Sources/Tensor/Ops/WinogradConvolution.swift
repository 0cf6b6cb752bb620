#if arch(x86_64)
import TensorKernels

/// 3x3 convolutions with stride 1 and padding 1 by Winograd F(4x4, 3x3) (see `AVX512Winograd`):
/// a quarter of the direct GEMM's multiplies, paid for by transforming the input, the filters
/// and the output, so it is used where the GEMMs dominate (enough tiles and channels).
///
/// The transformed filters U are 4x the f32 weight (36 values per 3x3 filter), so they are made
/// per call, a block of output channels at a time within `maxFilterBytes`, instead of being
/// kept (which would quadruple the memory of a model's convolutions). For each block, workers
/// take blocks of 64 tiles: transform the input 128 channels at a time into the GEMM's packed B
/// layout, run the 36 GEMMs into their M, and transform M into the output. When the input would
/// be transformed more than once (several blocks of output channels, or a block's channels split
/// between workers) it is transformed once into a shared buffer if that fits
/// `maxSharedInputBytes`, else again per block, which costs little against the GEMMs. With fewer
/// tile blocks than two per worker and the input shared, workers split the output channels
/// instead and each transforms its own filters a few slivers at a time (`convolveByRows`).
///
/// The GEMMs run in f32 whatever the weight type: transformed operands rounded to bf16 would
/// carry the rounding through transforms with coefficients up to 8 (bf16 weights are widened
/// exactly; f16 and quantized ones use the bf16 values the direct path packs).
enum WinogradConvolution {
    /// Bytes of transformed filters made at once (one block of output channels).
    static let maxFilterBytes = 24 << 20
    /// The input transformed once for all blocks of output channels, up to this size (24 MB: the
    /// UNet's 16x16 convolutions of 1920 channels at 32 tiles, 17.7 MB, split their output
    /// channels between workers).
    static let maxSharedInputBytes = 24 << 20
    /// At most this many output channels per block, which bounds each worker's M (36·rows·64 floats).
    static let maxBlockRows = 516
    /// Fewer tiles than this and the transforms (the filters' above all, made per call) cost what
    /// the multiplies save. Measured on Zen 4 (TensorBenchmark, 2 threads, `convolveByRows`):
    /// with f32 weights 1.5-1.9x the direct GEMM at 32 tiles (2x640x16x16, 2x1280x16x16), 0.5x
    /// at 8; against the bf16 direct GEMM (f16/bf16/q8_0 weights at the `avx512` level) 0.7-1.0x
    /// at 32 tiles, 1.13x at 64, 1.3x at 128. At `avx512f` every weight is packed in f32 and
    /// takes the f32 bound. On Zen 5, with the transforms' strides padded: f32 2.0x the direct
    /// GEMM at 32 tiles (2x1280x16x16, 885 against 441 GFLOP/s), 1.0x at 8; with f16 weights
    /// 1.25x the bf16 direct GEMM at 32 tiles in TensorBenchmark, but no faster in the 512x512
    /// UNet step (2.38 against 2.30-2.34 s), so encoded weights keep the bound of 64.
    static let minimumTiles = 32
    static let minimumTilesForEncodedWeights = 64
    /// Fewer channels than this and the transforms dominate.
    static let minimumChannels = 32

    /// Whether `conv2d` should use this path for a convolution of this shape.
    static func accepts(_ g: ConvGeometry, cout: Int, batch: Int, weight: WeightMatrix) -> Bool {
        guard g.kh == 3, g.kw == 3, g.strideY == 1, g.strideX == 1, g.padTop == 1, g.padLeft == 1,
            g.ho == g.h, g.wo == g.w, g.cin >= minimumChannels, cout >= minimumChannels
        else { return false }
        guard Conv2dTuning.winograd else { return false }
        let tiles = batch * ((g.h + 3) / 4) * ((g.w + 3) / 4)
        // Gathers and scatters index the batch with 32-bit offsets.
        let limit = Int(Int32.max) - 8 * g.w
        let enough = CPUKernels.effective(weight.precision) == .float32 ? minimumTiles : minimumTilesForEncodedWeights
        return tiles >= enough && batch * g.cin * g.h * g.w < limit && batch * cout * g.h * g.w < limit
    }

    /// out [batch, cout, h, w] = conv(input [batch, cin, h, w], weight) + bias, overwriting out.
    /// `filterBudget` bounds the transformed filters made at once (tests lower it).
    static func convolve(
        input: UnsafePointer<Float>, batch: Int, geometry g: ConvGeometry, cout: Int, weight: WeightMatrix,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, filterBudget: Int = maxFilterBytes
    ) {
        let mr = PackedOperand.rowSliver, blockTiles = AVX512Winograd.blockTiles, chunk = AVX512Winograd.channelChunk
        let positions = AVX512Winograd.positions
        let cin = g.cin, plane = g.h * g.w
        let tiles = batch * ((g.h + 3) / 4) * ((g.w + 3) / 4)
        let tileBlocks = (tiles + blockTiles - 1) / blockTiles
        let chunks = (cin + chunk - 1) / chunk

        // Output-channel blocks of whole slivers, as even as the filter budget allows; with few
        // tile blocks the workers split each block's rows, so blocks are whole rounds of slivers.
        let threads = Parallel.threadCount
        let unit = tileBlocks >= 2 * threads ? mr : mr * threads
        let rowsWithinBudget = max(unit, min(maxBlockRows, filterBudget / (positions * cin * 4)) / unit * unit)
        let coutBlocks = (cout + rowsWithinBudget - 1) / rowsWithinBudget
        let blockRows = ((cout + coutBlocks - 1) / coutBlocks + mr - 1) / mr * mr
        let filterBytes = positions * AVX512Winograd.positionBytes(rows: blockRows, cin: cin)

        // Workers split tile blocks, and also the block's rows when tile blocks are too few.
        let slivers = (blockRows + mr - 1) / mr
        let rowParts = tileBlocks >= 2 * threads ? 1 : min(slivers, (2 * threads + tileBlocks - 1) / tileBlocks)
        let partRows = (slivers + rowParts - 1) / rowParts * mr
        // V of one block and chunk: 36 panels.
        let panelsFloats = positions * AVX512Winograd.panelFloats
        // The input is transformed once for everything when it would otherwise be transformed
        // again per block of output channels or per part of the rows, and V is small enough.
        let sharedInputFloats = tileBlocks * chunks * panelsFloats
        let sharesInput = (coutBlocks > 1 || rowParts > 1) && sharedInputFloats * 4 <= maxSharedInputBytes

        let workspace = Workspace(
            panels: sharesInput ? 0 : panelsFloats, m: positions * AVX512Winograd.mStride(rows: partRows),
            gemm: AVX512Gemm.scratchBytes(precision: .float32, m: partRows, n: blockTiles, k: chunk) / 4,
            staging: AVX512Winograd.TileBlock.stagingFloats(w: g.w))

        let p = AVX512Gemm.Precision(weight.precision)
        let packedWeight = weight.packedBuffer(p, width: mr)
        defer { withExtendedLifetime(packedWeight) {} }
        let sharedBytes = sharesInput ? sharedInputFloats * 4 : 0
        let shared = sharesInput ? LargeBlockHeap.shared.allocate(sharedBytes).assumingMemoryBound(to: Float.self) : nil
        defer { if let shared { LargeBlockHeap.shared.free(shared, bytes: sharedBytes) } }

        // Tile block `index`, its groups in the worker's scratch: built once for the worker's
        // consecutive units of the same block (units run block-major).
        func tileBlock(_ index: Int, _ scratch: Workspace.Pointers, _ last: inout AVX512Winograd.TileBlock?)
            -> AVX512Winograd.TileBlock
        {
            let t0 = index * blockTiles, n = min(blockTiles, tiles - t0)
            if let last, last.first == t0 { return last }
            let groups = tileGroups(block: index, tiles: tiles, geometry: g, cout: cout, into: scratch.groups)
            let block = AVX512Winograd.TileBlock(
                first: t0, count: n, h: g.h, w: g.w, inputImage: cin * plane, groups: groups)
            last = block
            return block
        }
        func transformInput(
            _ block: AVX512Winograd.TileBlock, chunk index: Int, into v: UnsafeMutablePointer<Float>,
            _ scratch: Workspace.Pointers
        ) {
            let c0 = index * chunk
            AVX512Winograd.transformInput(
                input: input, block: block, channels: c0..<min(cin, c0 + chunk), into: v, scratch: scratch.transform,
                staging: scratch.staging)
        }

        if let shared {
            Parallel.forEach(tileBlocks * chunks) { units in
                workspace.with { scratch in
                    var last: AVX512Winograd.TileBlock?
                    for unit in units {
                        let (index, chunkIndex) = unit.quotientAndRemainder(dividingBy: chunks)
                        let block = tileBlock(index, scratch, &last)
                        transformInput(block, chunk: chunkIndex, into: shared + unit * panelsFloats, scratch)
                    }
                }
            }
        }

        if let shared, tileBlocks < 2 * threads {
            // Too few tile blocks to go round the workers: split the output channels instead.
            weight.withFilters(packed: packedWeight?.operand) { source in
                convolveByRows(
                    shared: shared, tiles: tiles, geometry: g, cout: cout, source: source, bias: bias, output: output,
                    filterBudget: min(workerFilterBytes, filterBudget))
            }
            return
        }

        let u = LargeBlockHeap.shared.allocate(filterBytes)
        defer { LargeBlockHeap.shared.free(u, bytes: filterBytes) }
        weight.withFilters(packed: packedWeight?.operand) { source in
            for r0 in stride(from: 0, to: cout, by: blockRows) {
                let rows = min(blockRows, cout - r0)
                let rowSlivers = (rows + mr - 1) / mr
                Parallel.forEach(rowSlivers) { range in
                    AVX512Winograd.transformWeights(
                        source, cout: cout, cin: cin, firstRow: r0, blockRows: blockRows, slivers: range, into: u)
                }
                // Each unit: one tile block × one part of the block's rows.
                let parts = min(rowParts, rowSlivers)
                Parallel.forEach(tileBlocks * parts) { units in
                    workspace.with { scratch in
                        var last: AVX512Winograd.TileBlock?
                        for unit in units {
                            let (index, part) = unit.quotientAndRemainder(dividingBy: parts)
                            let s0 = rowSlivers * part / parts, s1 = rowSlivers * (part + 1) / parts
                            let m0 = s0 * mr, m1 = min(rows, s1 * mr)
                            guard m0 < m1 else { continue }
                            let block = tileBlock(index, scratch, &last)
                            for chunkIndex in 0..<chunks {
                                let c0 = chunkIndex * chunk, kb = min(chunk, cin - c0)
                                let v: UnsafeMutablePointer<Float>
                                if let shared {
                                    v = shared + (index * chunks + chunkIndex) * panelsFloats
                                } else {
                                    v = scratch.panels
                                    transformInput(block, chunk: chunkIndex, into: v, scratch)
                                }
                                multiplyPositions(
                                    positions, u: u, uRows: blockRows, cin: cin, firstSliver: s0, rows: m1 - m0,
                                    chunk: c0..<(c0 + kb), v: v, tiles: block.count, into: scratch.m,
                                    mRows: partRows, scratch: scratch.gemm)
                            }
                            AVX512Winograd.transformOutput(
                                m: scratch.m, positionStride: AVX512Winograd.mStride(rows: partRows),
                                rows: 0..<(m1 - m0), firstChannel: r0 + m0, groups: block.groups, bias: bias,
                                plane: plane, w: g.w, into: output, scratch: scratch.transform)
                        }
                    }
                }
            }
        }
    }

    /// Bytes of each worker's own transformed filters in `convolveByRows`: a few slivers of
    /// output channels, so U stays in cache between its transform and its 36 GEMMs.
    static let workerFilterBytes = 4 << 20

    /// The convolution for few tiles (the UNet's 16x16 level at 256x256: 32 tiles): with the input
    /// already transformed into `shared`, each worker takes a contiguous share of the output
    /// channels and, a few slivers at a time, transforms their filters into its own U, runs the
    /// GEMMs over every tile block and transforms the output. Workers never wait on each other,
    /// and U is written and read while it is in cache instead of going through memory once per
    /// block of the whole layer's filters.
    private static func convolveByRows(
        shared: UnsafeMutablePointer<Float>, tiles: Int, geometry g: ConvGeometry, cout: Int,
        source: AVX512Winograd.WeightSource, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        filterBudget: Int
    ) {
        let mr = PackedOperand.rowSliver, blockTiles = AVX512Winograd.blockTiles, chunk = AVX512Winograd.channelChunk
        let positions = AVX512Winograd.positions, panelsFloats = positions * AVX512Winograd.panelFloats
        let cin = g.cin, plane = g.h * g.w
        let tileBlocks = (tiles + blockTiles - 1) / blockTiles
        let chunks = (cin + chunk - 1) / chunk
        let slivers = (cout + mr - 1) / mr
        // Rows per U: within the budget, but at least 4 slivers (the 24x16 kernel's height, so
        // that a block of 16 or 32 tiles still fills whole micro-tiles).
        let rows = min(slivers, max(4, filterBudget / (positions * cin * 4 * mr))) * mr
        let filterBytes = positions * AVX512Winograd.positionBytes(rows: rows, cin: cin)
        let workspace = Workspace(
            panels: 0, m: positions * AVX512Winograd.mStride(rows: rows),
            gemm: AVX512Gemm.scratchBytes(precision: .float32, m: rows, n: blockTiles, k: chunk) / 4,
            staging: 0)
        Parallel.forEach(slivers) { range in
            let u = LargeBlockHeap.shared.allocate(filterBytes)
            defer { LargeBlockHeap.shared.free(u, bytes: filterBytes) }
            workspace.with { scratch in
                for s0 in stride(from: range.lowerBound, to: range.upperBound, by: rows / mr) {
                    let count = min(rows / mr, range.upperBound - s0)
                    let r0 = s0 * mr, m = min(count * mr, cout - r0)
                    AVX512Winograd.transformWeights(
                        source, cout: cout, cin: cin, firstRow: r0, blockRows: rows, slivers: 0..<count, into: u)
                    for index in 0..<tileBlocks {
                        let n = min(blockTiles, tiles - index * blockTiles)
                        let groups = tileGroups(block: index, tiles: tiles, geometry: g, cout: cout, into: scratch.groups)
                        for chunkIndex in 0..<chunks {
                            let c0 = chunkIndex * chunk, kb = min(chunk, cin - c0)
                            multiplyPositions(
                                positions, u: u, uRows: rows, cin: cin, firstSliver: 0, rows: m, chunk: c0..<(c0 + kb),
                                v: shared + (index * chunks + chunkIndex) * panelsFloats, tiles: n, into: scratch.m,
                                mRows: rows, scratch: scratch.gemm)
                        }
                        AVX512Winograd.transformOutput(
                            m: scratch.m, positionStride: AVX512Winograd.mStride(rows: rows), rows: 0..<m,
                            firstChannel: r0, groups: groups, bias: bias, plane: plane, w: g.w, into: output,
                            scratch: scratch.transform)
                    }
                }
            }
        }
    }

    /// The `TileGroup`s of tile block `block` (64 tiles, 16 per group), written to `groups`.
    private static func tileGroups(
        block: Int, tiles: Int, geometry g: ConvGeometry, cout: Int,
        into groups: UnsafeMutableBufferPointer<AVX512Winograd.TileGroup>
    ) -> UnsafeBufferPointer<AVX512Winograd.TileGroup> {
        let t0 = block * AVX512Winograd.blockTiles, n = min(AVX512Winograd.blockTiles, tiles - t0)
        let count = (n + 15) / 16, plane = g.h * g.w
        for i in 0..<count {
            groups[i] = AVX512Winograd.TileGroup(
                first: t0 + 16 * i, count: min(16, n - 16 * i), h: g.h, w: g.w, inputImage: g.cin * plane,
                outputImage: cout * plane)
        }
        return UnsafeBufferPointer(rebasing: groups[0..<count])
    }

    /// The GEMMs of one tile block and one chunk of input channels, for every position ξ:
    /// M_ξ[rows, tiles] (+)= U_ξ[rows, chunk] · V_ξ[chunk, tiles], overwriting M on the first
    /// chunk. U holds `uRows` output channels (the rows start at sliver `firstSliver`), V is the
    /// block's panels for the chunk, M has `mRows` rows of 64 tiles per position.
    private static func multiplyPositions(
        _ positions: Int, u: UnsafeRawPointer, uRows: Int, cin: Int, firstSliver: Int, rows: Int, chunk: Range<Int>,
        v: UnsafePointer<Float>, tiles: Int, into m: UnsafeMutablePointer<Float>, mRows: Int,
        scratch: UnsafeMutablePointer<Float>
    ) {
        let blockTiles = AVX512Winograd.blockTiles
        for position in 0..<positions {
            let a = AVX512Winograd.weightOperand(u, position: position, rows: uRows, cin: cin)
                .advanced(bySlivers: firstSliver).advanced(byK: chunk.lowerBound)
            let b = PackedOperand(
                base: v + position * AVX512Winograd.panelFloats, precision: .float32, outer: blockTiles, k: chunk.count,
                width: blockTiles)
            AVX512Gemm.multiply(
                precision: .float32, m: rows, n: tiles, k: chunk.count, alpha: 1, a: .packed(a), b: .packed(b),
                beta: chunk.lowerBound == 0 ? 0 : 1, c: m + position * AVX512Winograd.mStride(rows: mRows),
                ldc: blockTiles, scratch: UnsafeMutableRawPointer(scratch))
        }
    }

    /// One worker's scratch, carved from one pooled buffer.
    private struct Workspace {
        let panels, m, gemm, staging: Int

        struct Pointers {
            let panels, m, gemm, transform, staging: UnsafeMutablePointer<Float>
            let groups: UnsafeMutableBufferPointer<AVX512Winograd.TileGroup>
        }

        func with(_ body: (Pointers) -> Void) {
            // Each part rounded to 16 floats keeps the next 64-byte aligned.
            func up(_ n: Int) -> Int { (n + 15) / 16 * 16 }
            let transform = AVX512Winograd.transformScratchFloats
            let total = up(panels) + up(m) + up(gemm) + up(transform) + up(staging)
            ScratchBuffers.withBuffer(count: total) { base in
                let groupCount = AVX512Winograd.blockTiles / 16
                withUnsafeTemporaryAllocation(of: AVX512Winograd.TileGroup.self, capacity: groupCount) { groups in
                    let m = base + up(panels), gemm = m + up(self.m), transformAt = gemm + up(self.gemm)
                    let staging = transformAt + up(transform)
                    body(
                        Pointers(
                            panels: base, m: m, gemm: gemm, transform: transformAt, staging: staging, groups: groups))
                }
            }
        }
    }
}

extension WeightMatrix {
    /// Runs `body` with the filters as `AVX512Winograd` reads them: the packed operand of a stored
    /// weight, or a dense weight's f32 rows.
    fileprivate func withFilters(packed: PackedOperand?, _ body: (AVX512Winograd.WeightSource) -> Void) {
        if let packed { return body(.packed(packed)) }
        guard case .dense(let tensor) = storage else {
            preconditionFailure("WinogradConvolution: stored weight not packed")
        }
        tensor.withUnsafeBufferPointer { pw in
            guard let w = pw.baseAddress else { return }
            body(.dense(w))
        }
    }
}
#endif
