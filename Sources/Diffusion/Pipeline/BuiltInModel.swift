import Foundation
import Tensor

/// Where the built-in tiny-shapes model and the CLIP vocabulary live: `Weights/tiny-shapes` of
/// the repository, found from `SD_WEIGHTS_DIR` (a folder holding `tiny-shapes/`), the working
/// directory, the executable's location (`.build/release/sd` lies inside the repository), or the
/// source tree this library was built from, in that order.
public enum BuiltInModel {
    public static let folderName = "tiny-shapes"
    public static let checkpointName = "tiny-shapes.safetensors"

    /// The built-in model's folder.
    /// - Throws: `WeightError.cannotOpen` when it is nowhere to be found.
    public static func folder() throws -> String {
        var candidates: [URL] = []
        if let dir = ProcessInfo.processInfo.environment["SD_WEIGHTS_DIR"] { candidates.append(URL(fileURLWithPath: dir)) }
        candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Weights"))
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent("Weights"))
            dir.deleteLastPathComponent()
        }
        // Sources/Diffusion/Pipeline/BuiltInModel.swift -> the repository root.
        candidates.append(
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Weights"))
        for base in candidates {
            let folder = base.appendingPathComponent(folderName)
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent(checkpointName).path) { return folder.path }
        }
        throw WeightError.cannotOpen(
            file: "Weights/\(folderName)/\(checkpointName)", reason: "built-in model not found (set SD_WEIGHTS_DIR to the Weights folder)")
    }

    /// The built-in model's single-file checkpoint.
    public static func checkpointPath() throws -> String { try folder() + "/" + checkpointName }

    /// A file shipped with the built-in model (`vocab.json`, `merges.txt`).
    public static func file(_ name: String) throws -> String { try folder() + "/" + name }
}
