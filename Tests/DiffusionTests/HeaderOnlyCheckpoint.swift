import Foundation
import Tensor

/// A committed key list (Tests/DiffusionTests/Fixtures/key_list_<name>.json, written by
/// `python Tests/Golden/generate_key_lists.py`): tensor name -> shape of a real model, no data.
///
/// The file is front-coded to stay small: rows `[shared, "suffix", [shape]]` in sorted order,
/// where a row's name is the first `shared` characters of the previous name plus `suffix`.
struct KeyList {
    let shapes: [String: [Int]]
    let metadata: [String: String]

    init(_ name: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("key_list_\(name).json")))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let rows = root["keys"] as? [[Any]]
        else { throw WeightError.badHeader(file: "key_list_\(name).json", reason: "no keys array") }
        var shapes: [String: [Int]] = [:]
        var previous: [UInt8] = []
        for row in rows {
            guard row.count == 3, let shared = row[0] as? Int, let suffix = row[1] as? String, let shape = row[2] as? [Int],
                shared <= previous.count
            else { throw WeightError.badHeader(file: "key_list_\(name).json", reason: "bad row \(row)") }
            let key = Array(previous[..<shared]) + Array(suffix.utf8)
            shapes[String(decoding: key, as: UTF8.self)] = shape
            previous = key
        }
        self.shapes = shapes
        metadata = root["__metadata__"] as? [String: String] ?? [:]
    }
}

/// Writes a safetensors file with a real header and no data: the file is extended to its full
/// size with `truncate`, which leaves a sparse hole, so a multi-gigabyte SDXL header costs a few
/// hundred kilobytes of disk and the real reader and loader run on it unchanged.
func writeHeaderOnlySafetensors(_ shapes: [String: [Int]], to path: String) throws {
    var header = "{"
    var offset = 0
    for (i, name) in shapes.keys.sorted().enumerated() {
        let shape = shapes[name] ?? []
        // position_ids is int64 in real files; everything else is written as f16.
        let dtype: DType = name.hasSuffix("position_ids") ? .i64 : .f16
        let size = (dtype.byteCount(shape: shape) ?? 0)
        let dims = shape.map(String.init).joined(separator: ",")
        header += (i == 0 ? "" : ",")
            + "\(JSONValue.quoted(name)):{\"dtype\":\"\(dtype.safetensorsName ?? "F16")\",\"shape\":[\(dims)],\"data_offsets\":[\(offset),\(offset + size)]}"
        offset += size
    }
    header += "}"
    while (header.utf8.count + 8) % 8 != 0 { header += " " }
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: Array(header.utf8))
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)),
        let handle = FileHandle(forWritingAtPath: path)
    else { throw WeightError.cannotOpen(file: path, reason: "cannot create") }
    defer { try? handle.close() }
    try handle.truncate(atOffset: UInt64(bytes.count + offset))
}

/// Writes a diffusers folder (model_index.json and one header-only safetensors per part) from a
/// key list whose names are `<part>/<name>`.
func writeHeaderOnlyDiffusersFolder(_ shapes: [String: [Int]], to folder: String, schedulerConfig: String? = nil) throws {
    var parts: [String: [String: [Int]]] = [:]
    for (key, shape) in shapes {
        guard let slash = key.firstIndex(of: "/") else { continue }
        parts[String(key[..<slash]), default: [:]][String(key[key.index(after: slash)...])] = shape
    }
    let fm = FileManager.default
    try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var modelIndex = "{\"_class_name\":\"StableDiffusionPipeline\""
    for (part, partShapes) in parts.sorted(by: { $0.key < $1.key }) {
        try fm.createDirectory(atPath: folder + "/" + part, withIntermediateDirectories: true)
        let file = part.hasPrefix("text_encoder") ? "model.safetensors" : "diffusion_pytorch_model.safetensors"
        try writeHeaderOnlySafetensors(partShapes, to: "\(folder)/\(part)/\(file)")
        modelIndex += ",\"\(part)\":[\"diffusers\",\"X\"]"
    }
    modelIndex += ",\"safety_checker\":[null,null]}"
    try Data(modelIndex.utf8).write(to: URL(fileURLWithPath: folder + "/model_index.json"))
    if let schedulerConfig {
        try fm.createDirectory(atPath: folder + "/scheduler", withIntermediateDirectories: true)
        try Data(schedulerConfig.utf8).write(to: URL(fileURLWithPath: folder + "/scheduler/scheduler_config.json"))
    }
}

/// A fresh temporary folder, removed by `body`'s end.
func withTemporaryFolder<T>(_ body: (String) throws -> T) throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swift-sd-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    return try body(folder)
}

/// Same shape, or a [O, I] Linear against its [O, I, 1, 1] convolution form (LDM keeps the VAE
/// attention projections as 1x1 convolutions, diffusers as Linear).
func sameWeightShape(_ a: [Int], _ b: [Int]) -> Bool {
    func squeezed(_ s: [Int]) -> [Int] { s.count == 4 && s[2] == 1 && s[3] == 1 ? Array(s[..<2]) : s }
    return squeezed(a) == squeezed(b)
}
