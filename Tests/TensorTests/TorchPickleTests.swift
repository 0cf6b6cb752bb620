import Foundation
import Testing

@testable import Tensor

/// The PyTorch fixtures (`Tests/Golden/generate_pickle_fixtures.py`, torch.save) against the
/// values torch saved (`pickle_expected.safetensors`, `<fixture>/<name>`, contiguous).
@Suite struct TorchPickleTests {
    static let expected: SafetensorsFile? = try? SafetensorsFile(path: fixtureURL("pickle_expected.safetensors").path)

    static func open(_ fixture: String) throws -> TorchPickleFile {
        try TorchPickleFile(path: fixtureURL(fixture).path)
    }

    static func error(_ fixture: String) -> (any Error)? {
        do {
            _ = try open(fixture)
            return nil
        } catch {
            return error
        }
    }

    /// Every tensor has the dtype, shape and bytes torch saved, and no other tensor is found.
    @Test(arguments: [
        "pickle_dtypes.pt", "pickle_protocol4.pt", "pickle_ti_a1111.pt", "pickle_ti_parameterdict.pt",
        "pickle_learned_embeds.bin", "pickle_lightning.ckpt",
    ])
    func tensorsAreWhatTorchSaved(_ fixture: String) throws {
        let expected = try #require(Self.expected)
        let file = try Self.open(fixture)
        let names = expected.tensorNames.filter { $0.hasPrefix(fixture + "/") }
        #expect(Set(file.tensorNames) == Set(names.map { String($0.dropFirst(fixture.count + 1)) }))
        for name in names {
            let want = try expected.tensor(name)
            let got = try file.tensor(String(name.dropFirst(fixture.count + 1)))
            #expect(got.dtype == want.dtype && got.shape == want.shape, "\(name): \(got.dtype) \(got.shape)")
            #expect(Array(got.bytes) == Array(want.bytes), "\(name)")
        }
    }

    @Test func viewsShareTheMappingAndStridedViewsAreCopied() throws {
        let file = try Self.open("pickle_dtypes.pt")
        let base = try file.tensor("view.base"), rows = try file.tensor("view.rows")
        // base[1:3] starts 6 floats into the shared storage, inside the file's mapping.
        #expect(base.file === file.file && rows.file === file.file)
        #expect(rows.bytes.baseAddress == base.bytes.baseAddress.map { $0 + 6 * 4 })
        #expect(base.alignedFloat32Elements != nil)
        for name in ["view.transposed", "view.columns", "view.broadcast"] {
            #expect(try file.tensor(name).file !== file.file, "\(name) is not contiguous, so it is a copy")
        }
        #expect(try file.tensor("view.transposed").toTensor().scalars == (try base.toTensor()).transposed().scalars)
        #expect(try file.tensor("scalar").shape == [] && file.tensor("scalar").toTensor().scalars == [2.5])
        #expect(try file.tensor("empty").shape == [0, 4])
        #expect(try file.tensor("bool").dtype == .bool && file.tensor("i8").dtype == .i8)
        #expect(file.metadata == ["count": "3", "ratio": "1.5", "title": "text", "flag": "True"])
        #expect(Array(file.tensorNames.prefix(4)) == ["f32", "f16", "bf16", "f64"])
    }

    @Test func textualInversionFilesAndLightningCheckpoint() throws {
        let a1111 = try Self.open("pickle_ti_a1111.pt")
        #expect(a1111.tensorNames == ["string_to_param.*"] && a1111.tensors["string_to_param.*"]?.shape == [2, 32])
        #expect(a1111.metadata == ["string_to_token.*": "265", "name": "x", "step": "10"])

        // string_to_param pickled as a ParameterDict reads like a dict; its other module state
        // (training, hooks) is not a tensor.
        let old = try Self.open("pickle_ti_parameterdict.pt")
        #expect(old.tensorNames == ["string_to_token.*", "string_to_param.*"])
        #expect(old.tensors["string_to_token.*"]?.dtype == .i64 && old.tensors["string_to_param.*"]?.shape == [1, 32])

        let bin = try Self.open("pickle_learned_embeds.bin")
        #expect(bin.tensorNames == ["<tok>"] && bin.tensors["<tok>"]?.shape == [32])

        // The callback class as a dict key and a numpy scalar in its state are inert placeholders.
        let ckpt = try Self.open("pickle_lightning.ckpt")
        #expect(ckpt.tensorNames == ["state_dict.model.diffusion_model.out.2.weight", "state_dict.first_stage_model.quant_conv.bias"])
        #expect(ckpt.metadata["global_step"] == "5" && ckpt.metadata["pytorch-lightning_version"] == "1.4.2")
    }

    // MARK: - Refused files

    @Test func hostileGlobalsAreRefusedByName() {
        let system = fixtureURL("pickle_hostile_system.pt").path
        #expect(Self.error("pickle_hostile_system.pt") as? WeightError == .forbiddenGlobal(file: system, global: "posix.system"))
        let eval = fixtureURL("pickle_hostile_eval.pt").path
        #expect(Self.error("pickle_hostile_eval.pt") as? WeightError == .forbiddenGlobal(file: eval, global: "__builtin__.eval"))
        #expect(
            "\(WeightError.forbiddenGlobal(file: "x.pt", global: "posix.system"))"
                == "x.pt: the pickle uses posix.system, which is not allowed (only tensors, storages and plain containers are read; nothing in the file is run)")
    }

    @Test func damagedAndUnsupportedArchivesNameTheFile() throws {
        let path = { (name: String) in fixtureURL(name).path }
        #expect(
            Self.error("pickle_legacy.pt") as? WeightError
                == .cannotOpen(
                    file: path("pickle_legacy.pt"),
                    reason: "a PyTorch file in the legacy format (torch < 1.6, a bare pickle); re-save it with torch >= 1.6"
                        + " or convert it to safetensors"))
        #expect(
            Self.error("pickle_truncated.pt") as? WeightError
                == .badHeader(file: path("pickle_truncated.pt"), reason: "no zip end-of-central-directory record (truncated?)"))
        let size = try Data(contentsOf: fixtureURL("pickle_entry_outside.pt")).count
        #expect(
            Self.error("pickle_entry_outside.pt") as? WeightError
                == .badHeader(
                    file: path("pickle_entry_outside.pt"),
                    reason: "zip entry 'pickle_ti_a1111/data/0' at byte \(size + 4096) with 256 bytes runs past the end of the file (\(size) bytes)"))
        #expect(
            Self.error("pickle_compressed.pt") as? WeightError
                == .badHeader(
                    file: path("pickle_compressed.pt"),
                    reason: "zip entry 'pickle_ti_a1111/data.pkl' is compressed (method 8); only stored entries are read (torch.save writes them stored)"))
        #expect(throws: WeightError.badMagic(file: "x.pt")) { try TorchPickleFile(file: MappedFile(name: "x.pt", data: [1, 2, 3, 4])) }
    }
}
