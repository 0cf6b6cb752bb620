/// How one tensor of the random checkpoint is filled, chosen so that activations stay in a sane
/// range through every layer (no overflow in f16, no denormals that would slow the kernels):
/// - layer weights (2-D linear/embedding, 4-D conv): N(0, 1/fan_in), fan_in = product of all but
///   the first dimension, so a layer keeps its input's variance (LeCun init);
/// - 1-D weights, which in SD are all norm scales (GroupNorm, LayerNorm): 1, with their biases 0;
/// - other biases: N(0, 0.01²), small but not zero, so bias additions are not skipped as trivial;
/// - the DDPM buffers: SD's real schedule; `model_ema.decay` 0.9999 and `num_updates` 0;
/// - CLIP's `position_ids`: 0..<77 as i64, as in the released files.
struct TensorRecipe {
    enum Fill {
        case normal(std: Float)
        case constant(Float)
        case values([Float])
        case positionIDs
    }

    let name: String
    let shape: [Int]
    let fill: Fill

    /// The recipe of every tensor of `keyList`.
    static func recipes(for keyList: KeyList) -> [TensorRecipe] {
        let shapes = Dictionary(keyList.entries.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        return keyList.entries.map { entry in
            TensorRecipe(name: entry.name, shape: entry.shape, fill: fill(entry.name, entry.shape, shapes: shapes))
        }
    }

    private static func fill(_ name: String, _ shape: [Int], shapes: [String: [Int]]) -> Fill {
        if name.hasSuffix("position_ids") { return .positionIDs }
        if let buffer = DDPMSchedule.buffer(name) { return .values(buffer) }
        if name == "model_ema.decay" { return .constant(0.9999) }
        if name == "model_ema.num_updates" { return .constant(0) }
        if name.hasSuffix(".weight") {
            if shape.count == 1 { return .constant(1) }
            let fanIn = shape.dropFirst().reduce(1, *)
            return .normal(std: 1 / Float(fanIn).squareRoot())
        }
        if name.hasSuffix(".bias") {
            let weight = String(name.dropLast("bias".count)) + "weight"
            return shapes[weight]?.count == 1 ? .constant(0) : .normal(std: 0.01)
        }
        // Nothing else is in an SD 1.5 file; a future key list entry gets the safe choice.
        return .constant(0)
    }

    /// Number of values (1 for a scalar).
    var count: Int { shape.reduce(1, *) }

    /// Whether the tensor holds floats (everything but `position_ids`).
    var isFloat: Bool {
        if case .positionIDs = fill { return false }
        return true
    }

    /// A filler for the writers' chunked generation: called with consecutive ranges in order.
    func makeFiller(seed: UInt64) -> (Range<Int>, UnsafeMutablePointer<Float>) -> Void {
        let stream = NormalStream(seed: seed, name: name)
        let fill = self.fill
        return { range, buffer in
            switch fill {
            case .normal(let std): stream.fill(buffer, count: range.count, std: std)
            case .constant(let value): buffer.update(repeating: value, count: range.count)
            case .values(let values): for (i, j) in range.enumerated() { buffer[i] = values[j] }
            case .positionIDs: for (i, j) in range.enumerated() { buffer[i] = Float(j) }
            }
        }
    }

    /// `position_ids` as little-endian i64 bytes.
    var positionIDBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 8)
        for i in 0..<count { withUnsafeBytes(of: Int64(i).littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }
}
