import Tensor

/// A scoped view of a `WeightIndex`: `w["input_blocks.1.0"]["in_layers.0"]` is the view at that
/// key prefix, and `try w.tensor("weight", shape: [320])` reads one tensor.
///
/// Every read is recorded as consumed. A missing tensor throws `WeightError.missingTensor` and a
/// wrong shape `WeightError.shapeMismatch`, both with the full canonical key.
public struct Weights: Sendable {
    /// The index read from.
    public let index: WeightIndex
    /// The key prefix of this scope, ending in "." (or empty at the root).
    public let prefix: String

    init(index: WeightIndex, prefix: String) {
        self.index = index
        self.prefix = prefix
    }

    /// The child scope `name` (which may contain dots).
    public subscript(_ name: String) -> Weights { Weights(index: index, prefix: prefix + name + ".") }

    /// The child scope of a numbered block (`w[3]` for `input_blocks.3`).
    public subscript(_ index: Int) -> Weights { self[String(index)] }

    /// The full key of `name` in this scope.
    public func key(_ name: String) -> String { prefix + name }

    /// Whether a tensor `name` or any tensor under the scope `name` exists.
    public func contains(_ name: String) -> Bool {
        index.tensors[key(name)] != nil || !index.names(withPrefix: key(name) + ".").isEmpty
    }

    /// The shape of tensor `name`, without consuming it (for reading a configuration off the weights).
    public func shape(of name: String) -> [Int]? { index.tensors[key(name)]?.shape }

    /// The stored (still encoded) tensor `name`, consumed.
    /// - Throws: `WeightError.missingTensor`, `.shapeMismatch` when `shape` is given and differs,
    ///   `.notFloatingPoint` for an integer or boolean tensor (every weight a layer reads is real).
    public func stored(_ name: String, shape: [Int]? = nil) throws -> StoredTensor {
        let fullKey = key(name)
        guard let t = index.tensors[fullKey] else { throw WeightError.missingTensor(file: index.source, tensor: fullKey) }
        if let shape, t.shape != shape {
            throw WeightError.shapeMismatch(file: t.file.path, tensor: fullKey, expected: shape, actual: t.shape)
        }
        guard t.dtype.isFloatingPoint else {
            throw WeightError.notFloatingPoint(file: t.file.path, tensor: fullKey, dtype: t.dtype.safetensorsName ?? t.dtype.rawValue)
        }
        index.markConsumed(fullKey)
        return t
    }

    /// Tensor `name` decoded to Float32 (for small parameters: biases, norms, embeddings).
    public func tensor(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        try stored(name, shape: shape).toTensor()
    }

    /// Tensor `name` as a GEMM weight, left encoded and decoded per tile when used.
    public func matrix(_ name: String, shape: [Int]? = nil) throws -> WeightMatrix {
        try WeightMatrix(stored(name, shape: shape))
    }
}
