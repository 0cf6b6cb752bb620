import TensorKernels

/// Zero padding added around an image before a convolution, in pixels per side.
public struct Padding2d: Sendable, Equatable {
    /// Rows added above and below.
    public var top, bottom: Int
    /// Columns added left and right.
    public var left, right: Int

    /// The same padding on every side.
    public init(_ all: Int) { (top, bottom, left, right) = (all, all, all, all) }

    /// Padding given per side (e.g. SD's VAE downsample pads only bottom and right).
    public init(top: Int, bottom: Int, left: Int, right: Int) {
        (self.top, self.bottom, self.left, self.right) = (top, bottom, left, right)
    }
}

/// 2-D convolution (cross-correlation, as PyTorch `conv2d`), groups = 1, dilation = 1.
///
/// x [B, Cin, H, W], weight [Cout, Cin, kH, kW], bias [Cout] -> [B, Cout, Ho, Wo] with
/// Ho = (H + top + bottom - kH) / stride + 1.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
    conv2d(x, weight: WeightMatrix(weight), bias: bias, strideY: stride, strideX: stride, padding: Padding2d(padding))
}

/// 2-D convolution over a weight that may be stored as f16, bf16 or quantized blocks.
public func conv2d(
    _ x: Tensor, weight: WeightMatrix, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0
) -> Tensor {
    conv2d(x, weight: weight, bias: bias, strideY: stride, strideX: stride, padding: Padding2d(padding))
}

/// 2-D convolution with per-axis stride and per-side padding.
///
/// Implementation: 3x3, stride 1, padding 1 convolutions over enough 4x4 tiles go through Winograd
/// F(4x4, 3x3) (`WinogradConvolution` on AVX-512, `PortableWinogradConvolution` at the generic
/// level). The rest: im2col + GEMM. Each image's output Y[Cout, Ho·Wo] = W[Cout, Cin·kH·kW] ·
/// col[Cin·kH·kW, Ho·Wo]; col is built for a band of output rows at a time so the scratch stays
/// under `Conv2dTuning.im2colFloats` (a 3x3 conv at 320x64x64 would need 47 MB per image
/// unbanded). A 1x1 conv with stride 1 and no padding multiplies the input directly. On the
/// AVX-512 levels col is never stored (the GEMM gathers it), and the images of a batch with fewer
/// than `Conv2dTuning.batchedPixels` output pixels each are multiplied in one GEMM.
public func conv2d(
    _ x: Tensor, weight: WeightMatrix, bias: Tensor? = nil, strideY: Int, strideX: Int, padding: Padding2d
) -> Tensor {
    precondition(x.rank == 4 && weight.shape.count == 4, "conv2d: input \(x.shape), weight \(weight.shape)")
    let (batch, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    precondition(weight.shape[1] == cin, "conv2d: input \(x.shape), weight \(weight.shape)")
    precondition(strideY >= 1 && strideX >= 1, "conv2d: stride \(strideY)x\(strideX)")
    precondition(
        min(padding.top, padding.bottom, padding.left, padding.right) >= 0, "conv2d: negative padding \(padding)")
    let paddedH = h + padding.top + padding.bottom, paddedW = w + padding.left + padding.right
    precondition(
        paddedH >= kh && paddedW >= kw, "conv2d: input \(x.shape) with \(padding) smaller than weight \(weight.shape)")
    if let bias { precondition(bias.count == cout, "conv2d: bias \(bias.shape), weight \(weight.shape)") }
    let geometry = ConvGeometry(
        cin: cin, h: h, w: w, kh: kh, kw: kw, strideY: strideY, strideX: strideX, padTop: padding.top,
        padLeft: padding.left, ho: (paddedH - kh) / strideY + 1, wo: (paddedW - kw) / strideX + 1)
    let (ho, wo) = (geometry.ho, geometry.wo)
    let k = cin * kh * kw
    var y = Tensor(uninitializedShape: [batch, cout, ho, wo])
    let pixels = ho * wo

    x.withUnsafeBufferPointer { px in
        y.withUnsafeMutableBufferPointer { py in
            guard let out = py.baseAddress, let input = px.baseAddress else { return }
            #if arch(x86_64)
            if CPUKernels.active >= .avx512f, WinogradConvolution.accepts(geometry, cout: cout, batch: batch, weight: weight) {
                // Adds the bias itself, in its output transform.
                withOptionalPointer(bias) { pb in
                    WinogradConvolution.convolve(
                        input: input, batch: batch, geometry: geometry, cout: cout, weight: weight, bias: pb, output: out)
                }
                return
            }
            #endif
            if CPUKernels.active < .avx512f, PortableWinogradConvolution.accepts(geometry, cout: cout, batch: batch) {
                withOptionalPointer(bias) { pb in
                    PortableWinogradConvolution.convolve(
                        input: input, batch: batch, geometry: geometry, cout: cout, weight: weight, bias: pb, output: out)
                }
                return
            }
            // Small images of a batch are multiplied together (the GEMM's columns run across them)
            // into [cout, batch·pixels], then scattered to [batch, cout, pixels] with the bias: the
            // weight is read (an encoded one decoded) once rather than once per image, and the GEMM
            // gets hundreds of columns instead of 16 to 256. Our packed GEMM gathers the patches
            // itself; OpenBLAS gets an im2col of the whole batch.
            let openBLAS = CPUKernels.active < .avx512f
            let batched =
                openBLAS
                ? pixels < Conv2dTuning.batchedPixelsBelowAVX512 && k * batch * pixels <= Conv2dTuning.batchedIm2colFloats
                : pixels < Conv2dTuning.batchedPixels
            if batch > 1, k > 0, batched {
                let columns = batch * pixels
                ScratchBuffers.withBuffer(count: cout * columns) { product in
                    #if arch(x86_64)
                    if !openBLAS {
                        let patches = ConvolutionPatches(
                            image: input, h: h, w: w, kh: kh, kw: kw, strideY: strideY, strideX: strideX,
                            padTop: padding.top, padLeft: padding.left, ho: ho, wo: wo, imageStride: cin * h * w)
                        weight.multiplyPacked(
                            .weightTimesActivationColumns, source: .patches(patches), count: columns, output: product,
                            outputStride: columns, beta: 0, precision: weight.precision)
                    } else {
                        multiplyBatchIm2col(input, batch: batch, geometry: geometry, weight: weight, into: product)
                    }
                    #else
                    multiplyBatchIm2col(input, batch: batch, geometry: geometry, weight: weight, into: product)
                    #endif
                    withOptionalPointer(bias) { pb in
                        Parallel.forEach(batch * cout, minChunk: max(1, 16384 / max(1, pixels))) { items in
                            for item in items {
                                let b = item / cout, c = item % cout
                                let target = out + item * pixels, source = product + c * columns + b * pixels
                                let shift = pb?[c] ?? 0
                                for i in 0..<pixels { target[i] = source[i] + shift }
                            }
                        }
                    }
                }
                return
            }
            fillWithBias(out, bias: bias, batch: batch, channels: cout, pixels: pixels)
            let beta: Float = bias == nil ? 0 : 1
            if k == 0 {
                if bias == nil { out.initialize(repeating: 0, count: py.count) }
                return
            }
            if geometry.isPointwise {
                // 1x1, stride 1, no padding: the image [Cin, H·W] is already the GEMM operand.
                for b in 0..<batch {
                    weight.multiply(
                        .weightTimesActivationColumns, activations: input + b * cin * h * w, activationStride: pixels,
                        count: pixels, output: out + b * cout * pixels, outputStride: pixels, beta: beta)
                }
                return
            }
            #if arch(x86_64)
            if CPUKernels.active >= .avx512f {
                // Implicit im2col: the GEMM gathers each B sliver from the image as it packs it.
                for b in 0..<batch {
                    let patches = ConvolutionPatches(
                        image: input + b * cin * h * w, h: h, w: w, kh: kh, kw: kw, strideY: strideY, strideX: strideX,
                        padTop: padding.top, padLeft: padding.left, ho: ho, wo: wo)
                    weight.multiplyPacked(
                        .weightTimesActivationColumns, source: .patches(patches), count: pixels,
                        output: out + b * cout * pixels, outputStride: pixels, beta: beta, precision: weight.precision)
                }
                return
            }
            #endif
            let bandRows = max(1, min(ho, Conv2dTuning.im2colFloats / max(1, k * wo)))
            ScratchBuffers.withBuffer(count: k * bandRows * wo) { col in
                for b in 0..<batch {
                    let image = input + b * cin * h * w
                    for oy0 in stride(from: 0, to: ho, by: bandRows) {
                        let oy1 = min(ho, oy0 + bandRows)
                        let columns = (oy1 - oy0) * wo
                        // col [Cin·kH·kW, columns] for output rows oy0..<oy1; input channels are
                        // independent rows of col, so they are split across workers.
                        Parallel.forEach(cin, minChunk: max(1, 4096 / max(1, kh * kw * columns))) { channels in
                            for c in channels {
                                geometry.im2col(
                                    channel: c, image: image, outputRows: oy0..<oy1,
                                    into: col + c * kh * kw * columns)
                            }
                        }
                        weight.multiply(
                            .weightTimesActivationColumns, activations: col, activationStride: columns, count: columns,
                            output: out + b * cout * pixels + oy0 * wo, outputStride: pixels, beta: beta)
                    }
                }
            }
        }
    }
    return y
}

/// product [cout, batch·pixels] = weight · im2col of the whole batch (image b in columns
/// b·pixels..<(b+1)·pixels), for the OpenBLAS levels' batched small-image convolutions.
private func multiplyBatchIm2col(
    _ input: UnsafePointer<Float>, batch: Int, geometry g: ConvGeometry, weight: WeightMatrix,
    into product: UnsafeMutablePointer<Float>
) {
    let pixels = g.ho * g.wo, columns = batch * pixels, taps = g.kh * g.kw
    let colBytes = g.cin * taps * columns * 4
    let col = LargeBlockHeap.shared.allocate(colBytes).assumingMemoryBound(to: Float.self)
    defer { LargeBlockHeap.shared.free(col, bytes: colBytes) }
    Parallel.forEach(batch * g.cin, minChunk: max(1, 4096 / max(1, taps * pixels))) { items in
        for item in items {
            let b = item / g.cin, c = item % g.cin
            g.im2col(
                channel: c, image: input + b * g.cin * g.h * g.w, outputRows: 0..<g.ho,
                into: col + c * taps * columns + b * pixels, rowStride: columns)
        }
    }
    weight.multiply(
        .weightTimesActivationColumns, activations: col, activationStride: columns, count: columns, output: product,
        outputStride: columns, beta: 0)
}

/// Tuning constants of `conv2d`.
public enum Conv2dTuning {
    /// Whether 3x3 convolutions may take the Winograd path at all (on by default); off, every
    /// convolution rounds as the direct GEMM does (for comparisons), in the current task only.
    @TaskLocal public static var winograd = true

    /// Floats of im2col scratch per band (8 MB): several output rows of a 3x3 conv at SD sizes,
    /// which keeps sgemm's n dimension in the hundreds where OpenBLAS runs near peak.
    public static let im2colFloats = 1 << 21

    /// Below this many output pixels per image (a 4x4 or 8x8 UNet level), the AVX-512 levels
    /// convolve all images of a batch in one GEMM: 16 pixels alone fill a quarter of a 64-column
    /// sliver, and each image would read the whole weight again.
    static let batchedPixels = 256

    /// Below the AVX-512 levels (OpenBLAS GEMMs), images of a batch smaller than this many output
    /// pixels (the UNet's levels from 16x16 down, two images under CFG) are convolved in one GEMM
    /// whose im2col holds at most `batchedIm2colFloats` (32 MB; a 1280-channel 3x3 at 16x16 and
    /// batch 2 takes 24). Measured on Zen 2 (f32 weights): 2x1280x16x16 from 88 to 141 GFLOP/s.
    static let batchedPixelsBelowAVX512 = 1024
    static let batchedIm2colFloats = 1 << 23
}

/// Runs `body` with the tensor's elements, or nil (an optional bias).
func withOptionalPointer(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> Void) {
    guard let tensor else { return body(nil) }
    tensor.withUnsafeBufferPointer { body($0.baseAddress) }
}

private func fillWithBias(_ out: UnsafeMutablePointer<Float>, bias: Tensor?, batch: Int, channels: Int, pixels: Int) {
    guard let bias else { return }
    bias.withUnsafeBufferPointer { pb in
        Parallel.forEach(batch * channels, minChunk: max(1, 16384 / max(1, pixels))) { range in
            for i in range { (out + i * pixels).initialize(repeating: pb[i % channels], count: pixels) }
        }
    }
}

/// Sizes of one convolution, and the im2col gather.
struct ConvGeometry {
    let cin, h, w, kh, kw, strideY, strideX, padTop, padLeft, ho, wo: Int

    var isPointwise: Bool { kh == 1 && kw == 1 && strideY == 1 && strideX == 1 && padTop == 0 && padLeft == 0 && ho == h && wo == w }

    /// Writes the kH·kW rows of col that belong to input channel `channel`, each covering output
    /// rows `outputRows` (row-major, Wo per output row) and starting `rowStride` floats after the
    /// previous one (default: packed). Out-of-image taps are zero.
    @inline(__always)
    func im2col(
        channel: Int, image: UnsafePointer<Float>, outputRows: Range<Int>, into destination: UnsafeMutablePointer<Float>,
        rowStride: Int? = nil
    ) {
        let plane = image + channel * h * w
        let tapStride = rowStride ?? outputRows.count * wo
        for ky in 0..<kh {
            for kx in 0..<kw {
                var dst = destination + (ky * kw + kx) * tapStride
                // Output columns whose tap lands inside the image: ix = ox·sx + kx - padLeft in [0, w).
                let first = min(wo, max(0, (padLeft - kx + strideX - 1) / strideX))
                let reach = w - 1 + padLeft - kx
                let last = reach < 0 ? first : max(first, min(wo, reach / strideX + 1))
                for oy in outputRows {
                    let iy = oy * strideY + ky - padTop
                    if iy < 0 || iy >= h {
                        dst.initialize(repeating: 0, count: wo)
                    } else {
                        if first > 0 { dst.initialize(repeating: 0, count: first) }
                        let row = plane + iy * w + (first * strideX + kx - padLeft)
                        if strideX == 1 {
                            (dst + first).initialize(from: row, count: last - first)
                        } else {
                            for i in 0..<(last - first) { dst[first + i] = row[i * strideX] }
                        }
                        if last < wo { (dst + last).initialize(repeating: 0, count: wo - last) }
                    }
                    dst += wo
                }
            }
        }
    }
}
