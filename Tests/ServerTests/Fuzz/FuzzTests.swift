import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Seeded mutation fuzzing of every parser that reads untrusted bytes: the safetensors, GGUF and
/// PyTorch pickle readers, the JSON request decoder, the multipart parser, PNG/JPEG decoding and the prompt
/// parser with the tokenizer. Each target runs `SD_FUZZ_RUNS` mutated inputs (default 2000, a
/// few seconds, as part of the test command) from seed `SD_FUZZ_SEED` (default 1);
/// `scripts/fuzz` runs more. A crash ends the
/// test process; an input slower than `slowLimit` is recorded (and saved for replay).
@Suite struct FuzzTests {
    static let environment = ProcessInfo.processInfo.environment
    static let runs = environment["SD_FUZZ_RUNS"].flatMap { Int($0) } ?? 2000
    static let seed = environment["SD_FUZZ_SEED"].flatMap { UInt64($0) } ?? 1
    static let slowLimit = environment["SD_FUZZ_SLOW_SECONDS"].flatMap { Double($0) } ?? 5.0

    /// The unmutated seeds are valid inputs, so mutations start from deep inside each parser
    /// rather than at its first check.
    @Test(arguments: FuzzTarget.all.map(\.name)) func seedsAreValidInputs(_ name: String) throws {
        let target = try #require(FuzzTarget.all.first { $0.name == name })
        #expect(!target.seeds.isEmpty)
        for (i, seed) in target.seeds.enumerated() {
            #expect(throws: Never.self, "\(name) seed \(i)") { try target.run(seed) }
        }
    }

    /// Replays one saved input: `SD_FUZZ_TARGET=image SD_FUZZ_REPLAY=file swift test ... --filter replay`.
    @Test(.enabled(if: environment["SD_FUZZ_REPLAY"] != nil)) func replay() throws {
        let name = Self.environment["SD_FUZZ_TARGET"] ?? ""
        let target = try #require(FuzzTarget.all.first { $0.name == name }, "SD_FUZZ_TARGET names no target")
        let input = try #require(FileManager.default.contents(atPath: Self.environment["SD_FUZZ_REPLAY"] ?? ""))
        let start = ContinuousClock.now
        let outcome = Result { try target.run(Array(input)) }
        print("replay \(name): \(outcome), \(ContinuousClock.now - start), process peak RSS \(Self.peakRSSMegabytes()) MB")
    }

    static func peakRSSMegabytes() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss / 1024
    }

    @Test(arguments: FuzzTarget.all.map(\.name)) func mutatedInputsNeverCrashOrHang(_ name: String) throws {
        // `scripts/fuzz` runs one target per process (SD_FUZZ_TARGET) so peak RSS is its own.
        if let only = Self.environment["SD_FUZZ_TARGET"], only != name { return }
        let target = try #require(FuzzTarget.all.first { $0.name == name })
        let seeds = target.seeds
        try #require(!seeds.isEmpty)
        // FNV-1a of the name: every target gets its own deterministic stream.
        let nameHash = name.utf8.reduce(UInt64(0xCBF2_9CE4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
        var mutator = SeededMutator(seed: Self.seed ^ nameHash)
        var slowest = 0.0, rejected = 0
        let clock = ContinuousClock()
        for i in 0..<Self.runs {
            let input = mutator.mutate(
                seeds[mutator.below(seeds.count)], splicing: seeds[mutator.below(seeds.count)], maxLength: target.maxLength)
            let start = clock.now
            do { try target.run(input) } catch { rejected += 1 }
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            slowest = max(slowest, seconds)
            if seconds > Self.slowLimit {
                let path = NSTemporaryDirectory() + "fuzz-\(name)-slow-\(i).bin"
                FileManager.default.createFile(atPath: path, contents: Data(input))
                Issue.record("\(name) input \(i) (seed \(Self.seed)) took \(seconds) s; saved as \(path)")
            }
        }
        if Self.environment["SD_FUZZ_REPORT"] != nil {
            print(
                "fuzz \(name): \(Self.runs) inputs (seed \(Self.seed)), \(rejected) rejected with an error, slowest \(String(format: "%.1f", slowest * 1000)) ms, process peak RSS \(Self.peakRSSMegabytes()) MB"
            )
        }
    }
}
