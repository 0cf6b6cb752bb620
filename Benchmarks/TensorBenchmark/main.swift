// Throughput of the GEMM-based ops at Stable Diffusion 1.5 shapes.
//
//   swift run -c release TensorBenchmark [--threads N] [--runs N] [--filter TEXT]
//
// Prints GFLOP/s as min / median / max over the runs (after one warm-up run), with FLOPs counted
// as 2 per multiply-add (ggml's op_flops convention).
import CBLAS
import Foundation
import Tensor

struct Options {
    var threads = ProcessInfo.processInfo.activeProcessorCount
    var runs = 5
    /// Only cases whose label contains this text run.
    var filter = ""

    init(_ arguments: [String]) {
        var i = 1
        while i < arguments.count {
            let value = i + 1 < arguments.count ? Int(arguments[i + 1]) : nil
            switch (arguments[i], value) {
            case ("--threads", let n?): threads = max(1, n)
            case ("--runs", let n?): runs = max(1, n)
            case ("--filter", _) where i + 1 < arguments.count: filter = arguments[i + 1]
            default:
                FileHandle.standardError.write("usage: TensorBenchmark [--threads N] [--runs N] [--filter TEXT]\n".data(using: .utf8)!)
                exit(2)
            }
            i += 2
        }
    }
}

let options = Options(CommandLine.arguments)

func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Runs `body` once to warm up, then `runs` times; prints GFLOP/s statistics.
func report(_ label: String, flops: Double, runs: Int, _ body: () -> Void) {
    guard options.filter.isEmpty || label.contains(options.filter) else { return }
    body()
    let rates = (0..<runs).map { _ in flops / seconds(body) / 1e9 }.sorted()
    let numbers = String(
        format: "%8.1f %8.1f %8.1f   (%.3f s at median)", rates[0], rates[rates.count / 2], rates[rates.count - 1],
        flops / rates[rates.count / 2] / 1e9)
    print(padded(label) + numbers)
}

func padded(_ text: String) -> String { text.padding(toLength: max(60, text.count + 1), withPad: " ", startingAt: 0) }

func randomTensor(_ shape: [Int], scale: Float = 1) -> Tensor {
    var state: UInt64 = 0x1234_5678
    let n = shape.reduce(1, *)
    var values = [Float](repeating: 0, count: n)
    for i in 0..<n {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        values[i] = (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
    return Tensor(shape: shape, values: values)
}

/// The same weight encoded as f16 in an in-memory file (the low-precision path).
func f16Weight(_ t: Tensor) throws -> WeightMatrix {
    var bytes = [UInt8](repeating: 0, count: t.count * 2)
    t.withUnsafeBufferPointer { src in
        bytes.withUnsafeMutableBytes { dst in
            for i in 0..<src.count { dst.storeBytes(of: Dequantization.floatToHalf(src[i]), toByteOffset: 2 * i, as: UInt16.self) }
        }
    }
    let file = MappedFile(name: "bench.f16", data: bytes)
    return try WeightMatrix(StoredTensor(name: "w", dtype: .f16, shape: t.shape, bytes: file.bytes, file: file))
}

/// The weight as a model file holds it (packed once, on first use), not as a dense tensor.
func f32Weight(_ t: Tensor) throws -> WeightMatrix {
    let bytes = t.scalars.withUnsafeBytes { [UInt8]($0) }
    let file = MappedFile(name: "bench.f32", data: bytes)
    return try WeightMatrix(StoredTensor(name: "w", dtype: .f32, shape: t.shape, bytes: file.bytes, file: file))
}

Parallel.threadCount = options.threads
/// The levels timed: the portable kernels and the best level this CPU has, or the lower one
/// `SD_KERNELS` names (to time, say, the `avx2` level on an AVX-512 machine).
let levels = KernelLevel.allCases.filter { $0 == .generic || $0 == CPUKernels.processLevel }
print("threads \(options.threads), runs \(options.runs), \(ProcessInfo.processInfo.activeProcessorCount) cores")
print(padded("GFLOP/s") + "     min   median      max")

// sgemm peak: one cblas_sgemm call with OpenBLAS at 1 thread, our split across workers, and
// (for reference only) OpenBLAS's own threading, which the engine does not use.
do {
    let n = 2048
    let a = randomTensor([n, n]), b = randomTensor([n, n])
    var c = Tensor(uninitializedShape: [n, n])
    let flops = 2 * pow(Double(n), 3)
    func direct() {
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, pa.baseAddress,
                        Int32(n), pb.baseAddress, Int32(n), 0, pc.baseAddress, Int32(n))
                }
            }
        }
    }
    _ = matmul(a, b)  // pins OpenBLAS to 1 thread (Parallel.prepareBLAS)
    report("sgemm \(n)³, one cblas_sgemm, OpenBLAS 1 thread", flops: flops, runs: options.runs, direct)
    for level in levels {
        CPUKernels.withLevel(level) {
            report("sgemm \(n)³, matmul split over \(options.threads) workers, \(level)", flops: flops, runs: options.runs) {
                _ = matmul(a, b)
            }
        }
    }
    openblas_set_num_threads(Int32(options.threads))
    report("sgemm \(n)³, one cblas_sgemm, OpenBLAS \(options.threads) threads", flops: flops, runs: options.runs, direct)
    openblas_set_num_threads(1)
}

// 3x3 convolutions, padding 1, of the SD 1.5 UNet (batch 2 = CFG) and VAE decoder (batch 1) at
// 256x256 and 512x512 pictures, with weights stored as f32 and as f16 (as a model file holds
// them: packed on first use), through Winograd F(4x4, 3x3) where `conv2d` picks it and through the
// direct GEMM.
for (batch, cin, cout, size) in [
    (2, 320, 320, 32), (2, 640, 640, 16), (2, 1280, 1280, 8), (2, 1280, 1280, 4), (2, 320, 320, 64), (2, 640, 640, 32), (2, 1280, 1280, 16),
    (1, 512, 512, 32), (1, 256, 256, 128), (1, 512, 512, 64), (1, 128, 128, 256),
] {
    let x = randomTensor([batch, cin, size, size])
    let w = randomTensor([cout, cin, 3, 3], scale: 0.05)
    let bias = randomTensor([cout])
    let flops = 2.0 * Double(batch * cout * size * size) * Double(cin * 9)
    let shape = "\(batch)x\(cin)x\(size)x\(size) -> \(cout)"
    for level in levels {
        CPUKernels.withLevel(level) {
            for (type, make) in [("f32", f32Weight), ("f16", f16Weight)] {
                guard let weight = try? make(w) else { continue }
                let arithmetic = CPUKernels.effective(weight.precision)
                for winograd in [true, false] {
                    let path = winograd ? "winograd" : "direct"
                    report("conv 3x3 \(shape), \(type) (\(arithmetic)), \(path), \(level)", flops: flops, runs: options.runs) {
                        Conv2dTuning.$winograd.withValue(winograd) { _ = conv2d(x, weight: weight, bias: bias, padding: 1) }
                    }
                }
            }
        }
    }
}

// Linear layers of the SD 1.5 UNet's transformer blocks (batch 2 = CFG) at 256x256 and 512x512
// pictures: tokens x in -> out (the GEGLU projection, its output layer, a q/k/v projection),
// weights stored as f32 and f16 (packed on first use, as B = Wᵀ).
for (tokens, inFeatures, outFeatures) in [
    (2048, 320, 2560), (2048, 1280, 320), (512, 640, 5120), (512, 2560, 640), (128, 1280, 10240), (8192, 320, 320),
] {
    let x = randomTensor([tokens, inFeatures])
    let w = randomTensor([outFeatures, inFeatures], scale: 0.05)
    let flops = 2.0 * Double(tokens * inFeatures * outFeatures)
    let shape = "\(tokens)x\(inFeatures) -> \(outFeatures)"
    for level in levels {
        CPUKernels.withLevel(level) {
            for (type, make) in [("f32", f32Weight), ("f16", f16Weight)] {
                guard let weight = try? make(w) else { continue }
                let arithmetic = CPUKernels.effective(weight.precision)
                report("linear \(shape), \(type) (\(arithmetic)), \(level)", flops: flops, runs: options.runs) {
                    _ = linear(x, weight: weight)
                }
            }
        }
    }
}

// Attention at the UNet's first level: 4096 tokens, 8 heads of 40, batch 2.
do {
    let (batch, tokens, heads, d) = (2, 4096, 8, 40)
    let q = randomTensor([batch, tokens, heads * d])
    let k = randomTensor([batch, tokens, heads * d])
    let v = randomTensor([batch, tokens, heads * d])
    let flops = 4.0 * Double(batch * heads) * Double(tokens) * Double(tokens) * Double(d)
    let context = randomTensor([batch, 77, heads * d])
    let crossFlops = 4.0 * Double(batch * heads) * Double(tokens) * 77 * Double(d)
    for level in levels {
        CPUKernels.withLevel(level) {
            report("self-attention B2 4096x4096 8 heads x 40, \(level)", flops: flops, runs: options.runs) {
                _ = scaledDotProductAttention(q, k, v, heads: heads)
            }
            report("cross-attention B2 4096x77 8 heads x 40, \(level)", flops: crossFlops, runs: options.runs) {
                _ = scaledDotProductAttention(q, context, context, heads: heads)
            }
            if level == .avx512 {
                report("self-attention B2 4096x4096 8 heads x 40, bf16, \(level)", flops: flops, runs: options.runs) {
                    _ = scaledDotProductAttention(q, k, v, heads: heads, precision: .bfloat16)
                }
            }
        }
    }
}
