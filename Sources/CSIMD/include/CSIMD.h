// One-line wrappers that make x86 instructions Swift cannot name callable from Swift.
//
// Swift imports __m512 as SIMD16<Float> and __m512i as SIMD8<Int64>, but not the bf16 vector
// type __m512bh, so the bf16 intrinsics are wrapped here with __m512i in its place. Loops and
// blocking stay in Swift (Sources/TensorKernels); nothing here holds more than one intrinsic
// or one CPUID query.
#ifndef CSIMD_H
#define CSIMD_H

#include <stdint.h>

#if defined(__linux__)
#include <malloc.h>
// glibc heap tuning (mallopt is not in Swift's Glibc module): keep blocks up to `bytes` in the
// heap instead of fresh mappings, and do not trim the heap below that.
static inline void sd_keep_large_blocks_in_heap(int bytes) {
    mallopt(M_MMAP_THRESHOLD, bytes);
    mallopt(M_TRIM_THRESHOLD, bytes);
}
// One malloc arena for the whole process; effective only before other threads allocate.
static inline void sd_single_heap_arena(void) { mallopt(M_ARENA_MAX, 1); }
#endif

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

// CPUID leaf `leaf`, subleaf `sub`; registers in abcd[0..3]. Returns 0 if the leaf is absent.
static inline int sd_cpuid(unsigned leaf, unsigned sub, unsigned abcd[4]) {
    return __get_cpuid_count(leaf, sub, &abcd[0], &abcd[1], &abcd[2], &abcd[3]);
}

// XCR0: which register states the OS saves (bits 1, 2, 5, 6, 7 must be set for AVX-512).
static inline uint64_t sd_xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

#define SD_AVX512 static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512bf16,avx512vnni,f16c,fma")))

// acc += (the bf16 pair at p, in every lane)·b over bf16 pairs (vdpbf16ps); the broadcast folds
// into the instruction.
SD_AVX512 __m512 sd_dpbf16_bcast(__m512 acc, const void *p, __m512i b) { return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_set1_epi32(*(const int *)p), (__m512bh)b); }
// 32 bf16 (round to nearest even): lanes 0-15 from lo, 16-31 from hi.
SD_AVX512 __m512i sd_cvtne2ps_pbh(__m512 hi, __m512 lo) { return (__m512i)_mm512_cvtne2ps_pbh(hi, lo); }
// 16-bit lanes of v gathered by idx (vpermw).
SD_AVX512 __m512i sd_permutexvar_epi16(__m512i idx, __m512i v) { return _mm512_permutexvar_epi16(idx, v); }
// One half to float (vcvtph2ps).
SD_AVX512 float sd_half_to_float(uint16_t h) { return _cvtsh_ss(h); }
// 16 halfs to 16 floats (vcvtph2ps).
SD_AVX512 __m512 sd_cvtph_ps(__m256i h) { return _mm512_cvtph_ps(h); }
// acc += Σ of 4 u8·s8 products per 32-bit lane, the u8 being the 4 bytes at p in every lane
// (vpdpbusd); the broadcast folds into the instruction.
SD_AVX512 __m512i sd_dpbusd_bcast(__m512i acc, const void *p, __m512i s8) { return _mm512_dpbusd_epi32(acc, _mm512_set1_epi32(*(const int *)p), s8); }
// 16 floats to int32, round to nearest even (vcvtps2dq).
SD_AVX512 __m512i sd_cvtps_epi32(__m512 x) { return _mm512_cvtps_epi32(x); }
// 16 int32 to float (vcvtdq2ps).
SD_AVX512 __m512 sd_cvtepi32_ps(__m512i x) { return _mm512_cvtepi32_ps(x); }
// The low byte of each of 16 int32 (vpmovdb).
SD_AVX512 __m128i sd_cvtepi32_epi8(__m512i x) { return _mm512_cvtepi32_epi8(x); }
// The floats at base[idx[i]] in the lanes set in mask, 0 in the others (vgatherdps).
SD_AVX512 __m512 sd_mask_gather_ps(uint16_t mask, __m512i idx, const float *base) { return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, idx, base, 4); }
// base[idx[i]] = v[i] for the lanes set in mask (vscatterdps).
SD_AVX512 void sd_mask_scatter_ps(float *base, uint16_t mask, __m512i idx, __m512 v) { _mm512_mask_i32scatter_ps(base, mask, idx, v, 4); }
// The lanes of the 32 floats a then b that idx picks (vpermt2ps).
SD_AVX512 __m512 sd_permutex2var_ps(__m512 a, __m512i idx, __m512 b) { return _mm512_permutex2var_ps(a, idx, b); }

#define SD_AVX2 static inline __attribute__((always_inline, target("avx2,fma,f16c")))

// 8 halfs to 8 floats (vcvtph2ps, VEX-encoded: Haswell, Zen 1 and later).
SD_AVX2 __m256 sd_cvtph_ps256(__m128i h) { return _mm256_cvtph_ps(h); }

#endif  // __x86_64__
#endif  // CSIMD_H
