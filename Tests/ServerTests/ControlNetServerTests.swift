@testable import Diffusion
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Server
import Tensor
import TestSupport
import Testing

/// `control_image`, `control_strength`, `control_start` / `control_end` and
/// `apply_canny_preprocessor` through the server: each way of sending the picture gives the
/// picture the library gives for the same options. (The ControlNet's numbers are checked against
/// diffusers in DiffusionTests; here it is a seeded one for the built-in model.)
@Suite(.serialized) struct ControlNetServerTests {
    /// The built-in model with a ControlNet of its own: its UNet's encoder, a seeded hint encoder
    /// (widths 8, 16, 32, 32) and seeded zero convolutions, written as a ControlLDM file.
    static let pipeline = Result { () throws -> DiffusionPipeline in
        let model = try SafetensorsFile(path: try BuiltInModel.checkpointPath())
        let unet = try #require(try DiffusionPipeline().components.network as? UNet)
        var writer = SafetensorsWriter()
        let root = "model.diffusion_model."
        for (key, t) in model.tensors where ["time_embed.", "input_blocks.", "middle_block."].contains(where: { key.hasPrefix(root + $0) }) {
            writer.add("control_model." + key.dropFirst(root.count), dtype: t.dtype, shape: t.shape, encodedBytes: Array(t.bytes))
        }
        var seed: UInt64 = 1
        func add(_ name: String, _ shape: [Int]) {
            seed += 1
            let fanIn = shape.dropFirst().reduce(1, *)
            writer.add("control_model.\(name).weight", pseudoRandomTensor(shape, seed: seed, scale: 1 / Float(fanIn).squareRoot()), as: .f16)
            writer.add("control_model.\(name).bias", pseudoRandomTensor([shape[0]], seed: seed + 100, scale: 0.05), as: .f16)
        }
        let hint = [(8, 3), (8, 8), (16, 8), (16, 16), (32, 16), (32, 32), (32, 32), (unet.config.modelChannels, 32)]
        for (k, (out, inputs)) in hint.enumerated() { add("input_hint_block.\(2 * k)", [out, inputs, 3, 3]) }
        for (n, block) in unet.encoder.inputBlocks.enumerated() {
            let channels = block.outputChannels
            add("zero_convs.\(n).0", [channels, channels, 1, 1])
        }
        let middle = unet.config.levelChannels.last ?? 0
        add("middle_block_out.0", [middle, middle, 1, 1])
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("controlnet-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("control_shapes.safetensors").path
        try writer.write(to: path)
        return try DiffusionPipeline(controlNet: path)
    }

    /// A control picture: a white ring on black, 64x64.
    static let control: RGBImage = {
        var pixels = [UInt8](repeating: 0, count: 64 * 64 * 3)
        for y in 0..<64 {
            for x in 0..<64 {
                let r = hypot(Double(x) - 30, Double(y) - 34)
                if abs(r - 18) < 2 { for c in 0..<3 { pixels[(y * 64 + x) * 3 + c] = 255 } }
            }
        }
        return RGBImage(width: 64, height: 64, pixels: pixels)
    }()

    func options(strength: Float = 0.9, start: Float = 0, end: Float = 1, canny: Bool = false) -> GenerationOptions {
        var o = GenerationOptions(prompt: "a red circle on a blue background")
        o.width = 64
        o.height = 64
        o.steps = 3
        o.controlImage = Self.control
        o.controlStrength = strength
        o.controlStart = start
        o.controlEnd = end
        o.cannyPreprocessing = canny
        return o
    }

    @Test func multipartJSONBase64AndStoredFileGiveTheLibrarysPicture() async throws {
        let pipeline = try Self.pipeline.get()
        let expected = try #require(try pipeline.generate(options(strength: 0.7, start: 0, end: 0.67)).first).image.pixels
        let uncontrolled = try #require(try pipeline.generate({ var o = options(); o.controlImage = nil; return o }()).first).image.pixels
        #expect(expected != uncontrolled)
        let png = PNG.encode(Self.control)
        let configuration = testConfiguration()
        try await withServer(configuration, generator: pipeline) { client in
            var form = MultipartBuilder()
            form.add("prompt", "a red circle on a blue background")
            form.add("size", "64x64")
            form.add("steps", "3")
            form.add("control_strength", "0.7")
            form.add("control_end", "0.67")
            form.add("response_format", "b64_json")
            form.addFile("control_image", filename: "ring.png", png)
            let multipart = try await client.postForm("/v1/images/generations", form)
            #expect(multipart.status == .ok, "\(multipart.text)")
            #expect(try firstPicture(multipart) == expected)

            let base64 = Data(png).base64EncodedString()
            for value in [base64, "data:image/png;base64," + base64] {
                let json = try await client.postJSON(
                    "/v1/images/generations",
                    #"{"prompt": "a red circle on a blue background", "size": "64x64", "steps": 3, "control_strength": 0.7, "control_end": 0.67, "response_format": "b64_json", "control_image": "\#(value)"}"#)
                #expect(json.status == .ok, "\(json.text)")
                #expect(try firstPicture(json) == expected)
            }

            // sd-api-server's form: a FileObject naming a file this server holds (put there
            // through its store, as the server has no upload route).
            let object = try FileStore(directory: configuration.outputDirectory, timeToLive: nil).save(png, name: "ring.png")
            let stored = try await client.postJSON(
                "/v1/images/generations",
                #"{"prompt": "a red circle on a blue background", "size": "64x64", "steps": 3, "control_strength": 0.7, "control_end": 0.67, "response_format": "b64_json", "control_image": {"id": "\#(object.id)", "filename": "ring.png", "object": "file"}}"#)
            #expect(stored.status == .ok, "\(stored.text)")
            #expect(try firstPicture(stored) == expected)
        }
    }

    @Test func cannyPreprocessingIsApplied() async throws {
        let pipeline = try Self.pipeline.get()
        let expected = try #require(try pipeline.generate(options(canny: true)).first).image.pixels
        let plain = try #require(try pipeline.generate(options()).first).image.pixels
        #expect(expected != plain)
        try await withServer(generator: pipeline) { client in
            let base64 = Data(PNG.encode(Self.control)).base64EncodedString()
            let response = try await client.postJSON(
                "/v1/images/generations",
                #"{"prompt": "a red circle on a blue background", "size": "64x64", "steps": 3, "apply_canny_preprocessor": true, "response_format": "b64_json", "control_image": "\#(base64)"}"#)
            #expect(response.status == .ok, "\(response.text)")
            #expect(try firstPicture(response) == expected)
        }
    }

    @Test(arguments: [
        (#""control_image": "%%%not base64%%%""#, "control_image"),
        (#""control_image": "aGVsbG8gd29ybGQ=""#, "control_image"),  // base64 of text, not a picture
        (#""control_image": 42"#, "control_image"),
        (#""control_image": {"id": "file_0000"}"#, "control_image"),
        (#""apply_canny_preprocessor": true"#, "control_image"),
        (#""control_image": "CONTROL", "control_strength": 11"#, "control_strength"),
        (#""control_image": "CONTROL", "control_start": 0.8, "control_end": 0.2"#, "control_end"),
        (#""control_image": "CONTROL", "control_start": -1"#, "control_start"),
    ])
    func badControlFieldsAreNamed(fields: String, field: String) async throws {
        let pipeline = try Self.pipeline.get()
        let body = #"{"prompt": "x", "size": "64x64", "steps": 1, \#(fields)}"#
            .replacingOccurrences(of: "CONTROL", with: Data(PNG.encode(Self.control)).base64EncodedString())
        try await withServer(generator: pipeline) { client in
            let response = try await client.postJSON("/v1/images/generations", body)
            #expect(response.status == .badRequest, "\(fields): \(response.text)")
            #expect(response.error?.param == field, "\(fields): \(response.text)")
        }
    }
}

extension UNetBlock {
    /// The channels this block gives (its last layer's).
    var outputChannels: Int {
        var channels = 0
        for layer in layers {
            switch layer {
            case .convolution(let conv): channels = conv.outChannels
            case .res(let res): channels = res.outConv.outChannels
            case .transformer: break
            case .downsample(let down): channels = down.conv.outChannels
            case .upsample(let up): channels = up.conv.outChannels
            }
        }
        return channels
    }
}
