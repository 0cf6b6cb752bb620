import Samplers
import Tensor
import Testing

@testable import Diffusion

/// The one wire -> options mapping `sd serve` and `sd generate` share.
@Suite struct GenerationRequestTests {
    func options(_ edit: (inout GenerationRequest) -> Void, limits: GenerationOptions.Limits = .init()) throws -> GenerationOptions {
        var request = GenerationRequest(prompt: "a red circle")
        edit(&request)
        return try request.options(limits: limits, randomSeed: { 1234 })
    }

    func field(_ edit: (inout GenerationRequest) -> Void, limits: GenerationOptions.Limits = .init()) -> String? {
        do {
            _ = try options(edit, limits: limits)
            return nil
        } catch GenerationError.invalidOption(let field, _) {
            return field
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func defaultsAreSDAPIServers() throws {
        let o = try options { _ in }
        #expect(o.seed == 42 && o.sampler == .eulerAncestral && o.steps == 20 && o.cfgScale == 7 && o.strength == 0.75)
        #expect(o.count == 1 && o.rng == .cuda && o.schedule == nil && o.width == nil && o.height == nil && !o.vaeTiling)
    }

    @Test func namesAliasesSizesAndSeeds() throws {
        let o = try options {
            $0.sampler = "dpmpp_2m"
            $0.scheduler = "Karras"
            $0.rng = "CPU"
            $0.size = "512x768"
            $0.width = 64
            $0.seed = -1
            $0.count = 3
        }
        #expect(o.sampler == .dpmpp2M && o.schedule == .karras && o.rng == .cpu)
        // `size` is WIDTHxHEIGHT and wins over width/height; a negative seed draws one.
        #expect(o.width == 512 && o.height == 768 && o.seed == 1234 && o.count == 3)
        let auto = try options { $0.size = "auto" }
        #expect(auto.width == nil && auto.height == nil)
        let explicit = try options { $0.width = 128; $0.height = 64; $0.seed = 7 }
        #expect(explicit.width == 128 && explicit.height == 64 && explicit.seed == 7)
    }

    @Test func errorsNameTheWireField() {
        #expect(field { $0.prompt = nil } == "prompt")
        #expect(field { $0.prompt = "  \n" } == "prompt")
        #expect(field { $0.sampler = "nope" } == "sample_method")
        #expect(field { $0.scheduler = "nope" } == "scheduler")
        #expect(field { $0.rng = "mt" } == "rng")
        #expect(field { $0.size = "512" } == "size")
        #expect(field { $0.size = "100x64" } == "width")
        #expect(field { $0.count = 0 } == "n")
        #expect(field { $0.steps = 0 } == "steps")
        #expect(field { $0.mask = RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 0, count: 192)) } == "mask")
    }

    @Test func promptsAreBoundedInBytesBeforeTokenizing() {
        var limits = GenerationOptions.Limits()
        limits.maxPromptBytes = 100
        #expect(field({ $0.prompt = String(repeating: "a", count: 101) }, limits: limits) == "prompt")
        #expect(field({ $0.negativePrompt = String(repeating: "é", count: 51) }, limits: limits) == "negative_prompt")
        #expect(field({ $0.prompt = String(repeating: "a", count: 100) }, limits: limits) == nil)
    }
}
