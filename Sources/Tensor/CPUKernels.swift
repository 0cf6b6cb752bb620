import CSIMD
import Foundation

/// Which family of hand-written kernels runs on this machine, lowest first.
public enum KernelLevel: String, Sendable, CaseIterable, Comparable {
    /// Baseline x86-64 / portable Swift SIMD, and OpenBLAS for f32 GEMMs.
    case generic
    /// AVX2 with FMA and F16C but no AVX-512 (Intel Haswell to Alder Lake, AMD Zen 1 to 3): the
    /// generic kernels with OpenBLAS GEMMs, plus vector decoding of f16, bf16 and q8_0 weights
    /// (`vcvtph2ps`) and the Winograd transforms, attention softmax, activation and normalization
    /// loops compiled for 256-bit vectors.
    case avx2
    /// AVX-512 F/BW/VL/DQ with FMA and F16C but no BF16 or VNNI (Intel Skylake-SP, Cascade Lake,
    /// Ice Lake, Tiger Lake): our packed f32 GEMM, Winograd convolutions, flash attention and vector
    /// f16 decoding. Weights of every type are packed and multiplied in f32.
    case avx512f
    /// AVX-512 F/BW/VL/DQ with BF16 and VNNI (Zen 4 and later, Sapphire Rapids and later): the
    /// above plus the bf16 GEMM for f16/bf16 weights and the int8 GEMM for q8_0.
    case avx512

    public static func < (lhs: KernelLevel, rhs: KernelLevel) -> Bool { lhs.rank < rhs.rank }

    /// What the level runs, for logs (an operator checking which kernels a host got).
    public var summary: String {
        switch self {
        case .generic: "OpenBLAS sgemm and portable SIMD kernels"
        case .avx2: "OpenBLAS sgemm and AVX2/FMA/F16C kernels (f16, bf16 and q8_0 weights decoded to f32)"
        case .avx512f: "AVX-512 f32 kernels (no BF16/VNNI on this CPU: f16, bf16 and q8_0 weights computed in f32)"
        case .avx512: "AVX-512 kernels with BF16 and VNNI"
        }
    }

    private var rank: Int {
        switch self {
        case .generic: 0
        case .avx2: 1
        case .avx512f: 2
        case .avx512: 3
        }
    }
}

/// The arithmetic a GEMM may use.
public enum ComputePrecision: String, Sendable, CaseIterable {
    /// f32 products and sums.
    case float32
    /// Operands rounded to bf16, products summed in f32 (where the CPU has AVX-512 BF16; f32
    /// otherwise).
    case bfloat16
}

/// Runtime dispatch: the best kernel level the CPU and OS support, chosen once, which users may
/// lower (never raise) with `SD_KERNELS=generic|avx2|avx512f` for the process or `withLevel` for one task.
public enum CPUKernels {
    /// The best level this CPU and OS support.
    public static let detected: KernelLevel = detect()

    /// The process-wide level: `detected`, or the lower level the environment names in `SD_KERNELS`
    /// (an unknown name, or one above what the CPU has, leaves `detected`).
    public static let processLevel: KernelLevel = {
        guard let name = ProcessInfo.processInfo.environment["SD_KERNELS"], let level = KernelLevel(rawValue: name) else {
            return detected
        }
        return min(level, detected)
    }()

    /// A level chosen for the current task (and the `Parallel` workers it starts).
    @TaskLocal static var override: KernelLevel?

    /// The level kernels use now: the task's choice if any, never above what the CPU supports.
    public static var active: KernelLevel { min(override ?? processLevel, detected) }

    /// Runs `body` with `level` (or the best level below it that the CPU has) for the current task
    /// only, so concurrent work keeps its own level (tests compare the paths in one process).
    public static func withLevel<R>(_ level: KernelLevel, _ body: () throws -> R) rethrows -> R {
        try $override.withValue(level) { try body() }
    }

    /// The precision a bf16 request actually gets at the active level (bf16 needs AVX-512 BF16).
    public static func effective(_ precision: ComputePrecision) -> ComputePrecision {
        precision == .bfloat16 && active == .avx512 ? .bfloat16 : .float32
    }

    private static func detect() -> KernelLevel {
        #if arch(x86_64)
        var leaf1: [UInt32] = [0, 0, 0, 0], leaf7: [UInt32] = [0, 0, 0, 0], leaf7s1: [UInt32] = [0, 0, 0, 0]
        guard sd_cpuid(1, 0, &leaf1) != 0, sd_cpuid(7, 0, &leaf7) != 0 else { return .generic }
        _ = sd_cpuid(7, 1, &leaf7s1)
        let ecx1 = leaf1[2], ebx7 = leaf7[1], ecx7 = leaf7[2], eax7s1 = leaf7s1[0]
        let osxsave = ecx1 & (1 << 27) != 0, fma = ecx1 & (1 << 12) != 0, f16c = ecx1 & (1 << 29) != 0
        guard osxsave, fma, f16c, ebx7 & (1 << 5) != 0 else { return .generic }
        // The OS must save the SSE and AVX register states (XCR0 bits 1, 2) for AVX2, and all
        // three AVX-512 states as well (bits 5, 6, 7) for AVX-512.
        let xcr0 = sd_xgetbv0()
        guard xcr0 & 0x06 == 0x06 else { return .generic }
        guard xcr0 & 0xE6 == 0xE6 else { return .avx2 }
        let avx512f = ebx7 & (1 << 16) != 0, avx512dq = ebx7 & (1 << 17) != 0
        let avx512bw = ebx7 & (1 << 30) != 0, avx512vl = ebx7 & (1 << 31) != 0
        let vnni = ecx7 & (1 << 11) != 0, bf16 = eax7s1 & (1 << 5) != 0
        guard avx512f && avx512dq && avx512bw && avx512vl else { return .avx2 }
        return vnni && bf16 ? .avx512 : .avx512f
        #else
        return .generic
        #endif
    }
}
