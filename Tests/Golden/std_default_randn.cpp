// Fixture generator for StdDefaultGenerator (run by hand through extract_random_goldens.py,
// never in CI). It draws normals the way stable-diffusion.cpp's STDDefaultRNG does:
// std::default_random_engine seeded with (unsigned int)seed, and a new
// std::normal_distribution<float>(0, 1) for every randn(n) call. Build with g++ (libstdc++).
//
// Output, one line per selected element:  <seed> <n> <draw> <index> <float bits in hex>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

static std::vector<float> randn(std::default_random_engine& engine, uint32_t n) {
    std::normal_distribution<float> distribution(0.0f, 1.0f);
    std::vector<float> values;
    for (uint32_t i = 0; i < n; i++) values.push_back(distribution(engine));
    return values;
}

int main() {
    const uint64_t seeds[] = {0, 1, 42, 1234, 4294967295ull, 4294967338ull};
    const uint32_t sizes[] = {3, 17, 16384};
    for (uint64_t seed : seeds) {
        for (uint32_t n : sizes) {
            std::default_random_engine engine;
            engine.seed((unsigned int)seed);
            for (int draw = 0; draw < 2; draw++) {
                std::vector<float> values = randn(engine, n);
                for (uint32_t i = 0; i < n; i++) {
                    if (!(i < 16 || i == 9999 || i == n - 1)) continue;
                    uint32_t bits;
                    std::memcpy(&bits, &values[i], sizeof bits);
                    std::printf("%llu %u %d %u %08x\n", (unsigned long long)seed, n, draw, i, bits);
                }
            }
        }
    }
    return 0;
}
