// PyTorch's `torch.save` format (torch >= 1.6; `.ckpt`, `.pt`, `.pth`, `.bin`): a zip archive
// (`ZipArchive`) of stored entries under one folder, conventionally the file's stem:
//
//   <prefix>/data.pkl        the saved object, pickled (protocol 2 unless asked otherwise)
//   <prefix>/data/<key>      each storage's raw bytes, little-endian, 64-byte aligned
//   <prefix>/byteorder       "little" (torch >= 2.1), .format_version, version, ...
//
// Inside data.pkl a tensor is `torch._utils._rebuild_tensor_v2(storage, storage_offset, size,
// stride, requires_grad, backward_hooks)`, and `storage` is a persistent id
// `('storage', torch.FloatStorage, '<key>', 'cpu', numel)` naming `<prefix>/data/<key>`.
// Several tensors may view one storage at different offsets.
//
// The pickle runs in `PickleMachine`, which calls nothing and refuses every Python name but the
// few tensor and container constructors torch uses, so a hostile checkpoint is an error, not a
// program. The object it builds is flattened into tensor names joined by "." (a state dict's
// own names come out unchanged; a Lightning checkpoint's as `state_dict.model...`). A
// contiguous tensor is a view into the mapping; any other layout (a transposed view saved as
// is) is copied into memory of its own, at most the file's size (or 1 MiB) in all. The legacy
// format (torch < 1.6, a bare pickle stream) is refused with a message saying how to convert it.

/// A PyTorch `torch.save` file: its tensors as views into a read-only memory mapping, and its
/// non-tensor values as text.
public final class TorchPickleFile: @unchecked Sendable {
    /// The largest `data.pkl` accepted. A state dict's pickle is about 200 bytes per tensor.
    public static let maxPickleBytes = 64 << 20
    /// How deep dicts and lists may nest.
    public static let maxNestingDepth = 64

    /// The mapping the tensors point into (copies of non-contiguous tensors have their own).
    public let file: MappedFile
    /// Tensors by flattened name.
    public let tensors: [String: StoredTensor]
    /// Tensor names in the pickle's order.
    public let tensorNames: [String]
    /// The integers, floats, booleans and strings found beside the tensors, under flattened
    /// names (`global_step`, a textual inversion's `name` and `string_to_token.*`).
    public let metadata: [String: String]

    /// Opens and validates `path`.
    /// - Throws: `WeightError` naming the file, as `init(file:)`.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Reads a file already mapped (or held in memory).
    /// - Throws: `WeightError` naming the file: `.cannotOpen` for the legacy format, `.badMagic`
    ///   for something that is not a zip archive, the archive's errors, `.forbiddenGlobal` naming
    ///   a refused Python name, `.badHeader` for a malformed pickle, and `.badShape`,
    ///   `.badOffsets`, `.duplicateTensor` naming the tensor.
    public init(file: MappedFile) throws {
        self.file = file
        let name = file.path
        if file.bytes.first == 0x80 {
            throw WeightError.cannotOpen(
                file: name,
                reason: "a PyTorch file in the legacy format (torch < 1.6, a bare pickle); re-save it with torch >= 1.6"
                    + " or convert it to safetensors")
        }
        guard ZipArchive.hasSignature(file.bytes) else { throw WeightError.badMagic(file: name) }
        let archive = try ZipArchive(file: file)
        // torch.save writes exactly one `<prefix>/data.pkl`; TorchScript archives have others.
        let pickles = archive.entries.filter { entry in
            entry.name.hasSuffix("/data.pkl") && entry.name.utf8.filter { $0 == UInt8(ascii: "/") }.count == 1
        }
        guard let pickle = pickles.first, pickles.count == 1 else {
            throw WeightError.badHeader(
                file: name, reason: "\(pickles.count) '<folder>/data.pkl' entries in the zip archive; torch.save writes one")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        guard pickle.size <= Self.maxPickleBytes else {
            throw WeightError.badHeader(
                file: name, reason: "\(pickle.name) has \(pickle.size) bytes, more than \(Self.maxPickleBytes)")
        }
        let program = try archive.contents(of: pickle)
        if let order = archive.entry(prefix + "byteorder") {
            let text = String(decoding: try archive.contents(of: order), as: UTF8.self)
            guard text == "little" else {
                throw WeightError.badHeader(file: name, reason: "byteorder '\(text.prefix(16))'; only little-endian files are read")
            }
        }
        let (root, heap) = try PickleMachine.run(program, file: name, entry: pickle.name)
        var flattener = Flattener(file: file, archive: archive, prefix: prefix, heap: heap)
        try flattener.flattenRoot(root)
        tensors = flattener.tensors
        tensorNames = flattener.tensorNames
        metadata = flattener.metadata
    }

    /// The tensor called `name`.
    /// - Throws: `WeightError.missingTensor`.
    public func tensor(_ name: String) throws -> StoredTensor {
        guard let t = tensors[name] else { throw WeightError.missingTensor(file: file.path, tensor: name) }
        return t
    }
}

/// Walks the unpickled object into named tensors and metadata, making each tensor's view.
private struct Flattener {
    let file: MappedFile
    let archive: ZipArchive
    let prefix: String
    let heap: PickleHeap
    var tensors: [String: StoredTensor] = [:]
    var tensorNames: [String] = []
    var metadata: [String: String] = [:]
    /// Containers on the path being walked (a container inside itself is not followed again).
    private var path: Set<Container> = []
    /// Values visited in all: a pickle whose containers share each other can describe a tree
    /// exponentially larger than itself, so the walk is bounded like the machine.
    private var visits = 0
    /// Bytes copied for non-contiguous tensors, bounded by the file's size.
    private var copiedBytes = 0
    /// Each storage's bytes, by key.
    private var storageBytes: [String: UnsafeRawBufferPointer] = [:]

    private enum Container: Hashable {
        case tuple(Int), list(Int), dict(Int)
    }

    init(file: MappedFile, archive: ZipArchive, prefix: String, heap: PickleHeap) {
        self.file = file
        self.archive = archive
        self.prefix = prefix
        self.heap = heap
    }

    mutating func flattenRoot(_ root: PickleValue) throws {
        guard let entries = entries(of: root) else {
            throw WeightError.badHeader(
                file: file.path, reason: "the saved object is not a dict of tensors (a whole pickled model is not read)")
        }
        try walk(entries.container, entries.items, prefix: "", depth: 0)
    }

    /// A dict's (or a ParameterDict's, or a list's) items with their names, or nil for a leaf.
    private func entries(of value: PickleValue) -> (container: Container, items: [(String?, PickleValue)])? {
        switch value {
        case .dict(let id):
            let dict = heap.dicts[id]
            return (.dict(id), zip(dict.keys, dict.values).map { (Self.name(of: $0.0), $0.1) })
        case .object(let id):
            // A ParameterDict's state is its module __dict__; its entries are in `_parameters`.
            guard case .dict(let stateID)? = heap.objects[id].state,
                let parameters = heap.dicts[stateID].value(forKey: "_parameters")
            else { return nil }
            return entries(of: parameters)
        case .list(let id):
            return (.list(id), heap.lists[id].enumerated().map { (String($0.offset), $0.element) })
        case .tuple(let id):
            return (.tuple(id), heap.tuples[id].enumerated().map { (String($0.offset), $0.element) })
        default: return nil
        }
    }

    /// A dict key as a name part (string and integer keys; others are not followed).
    private static func name(of key: PickleValue) -> String? {
        switch key {
        case .string(let s): s
        case .int(let i): String(i)
        default: nil
        }
    }

    private mutating func walk(_ container: Container, _ items: [(String?, PickleValue)], prefix: String, depth: Int) throws {
        guard depth < TorchPickleFile.maxNestingDepth else {
            throw WeightError.badHeader(file: file.path, reason: "containers nested deeper than \(TorchPickleFile.maxNestingDepth) at '\(prefix)'")
        }
        guard path.insert(container).inserted else { return }
        defer { path.remove(container) }
        for (key, value) in items {
            guard let key else { continue }
            visits += 1
            guard visits <= PickleMachine.maximumCells else {
                throw WeightError.badHeader(file: file.path, reason: "the saved object expands to more than \(PickleMachine.maximumCells) values")
            }
            let name = prefix + key
            switch value {
            case .tensor(let id):
                guard tensors[name] == nil else { throw WeightError.duplicateTensor(file: file.path, tensor: name) }
                tensors[name] = try makeTensor(heap.tensors[id], name: name)
                tensorNames.append(name)
            case .int(let i): metadata[name] = String(i)
            case .float(let d): metadata[name] = String(d)
            case .bool(let b): metadata[name] = b ? "True" : "False"
            case .string(let s): metadata[name] = s
            default:
                if let inner = entries(of: value) { try walk(inner.container, inner.items, prefix: name + ".", depth: depth + 1) }
            }
        }
    }

    // MARK: - Tensors

    /// The bytes of the storage `key`, checked to hold `count` elements of `dtype`.
    private mutating func bytes(of storage: PickleStorage, tensor: String) throws -> UnsafeRawBufferPointer {
        let bytes: UnsafeRawBufferPointer
        if let cached = storageBytes[storage.key] {
            bytes = cached
        } else {
            let entryName = prefix + "data/" + storage.key
            guard let entry = archive.entry(entryName) else {
                throw WeightError.badOffsets(file: file.path, tensor: tensor, reason: "its storage '\(entryName)' is not in the archive")
            }
            bytes = try archive.contents(of: entry)
            storageBytes[storage.key] = bytes
        }
        let (needed, overflow) = storage.count.multipliedReportingOverflow(by: storage.dtype.blockBytes)
        guard !overflow, needed <= bytes.count else {
            throw WeightError.badOffsets(
                file: file.path, tensor: tensor,
                reason: "its storage '\(storage.key)' of \(bytes.count) bytes is too short for \(storage.count) \(storage.dtype) elements")
        }
        return UnsafeRawBufferPointer(rebasing: bytes[0..<needed])
    }

    private mutating func makeTensor(_ spec: PickleTensor, name: String) throws -> StoredTensor {
        let storage = heap.storages[spec.storage]
        let dtype = storage.dtype
        let elementBytes = dtype.blockBytes
        let shape = spec.shape
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw WeightError.badShape(file: file.path, tensor: name, shape: shape, reason: "a negative dimension")
        }
        guard let byteCount = dtype.byteCount(shape: shape) else {
            throw WeightError.badShape(file: file.path, tensor: name, shape: shape, reason: "element count overflows")
        }
        guard spec.strides.count == shape.count, spec.strides.allSatisfy({ $0 >= 0 }), spec.offset >= 0 else {
            throw WeightError.badOffsets(
                file: file.path, tensor: name, reason: "strides \(spec.strides) or offset \(spec.offset) do not fit shape \(shape)")
        }
        let source = try bytes(of: storage, tensor: name)
        let count = byteCount / elementBytes
        if count == 0 {
            return StoredTensor(name: name, dtype: dtype, shape: shape, bytes: UnsafeRawBufferPointer(rebasing: source[0..<0]), file: file)
        }
        // The last element's index in the storage (strides are in elements).
        var last = spec.offset
        for (size, stride) in zip(shape, spec.strides) {
            let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2 else {
                throw WeightError.badOffsets(file: file.path, tensor: name, reason: "strides \(spec.strides) overflow")
            }
            last = sum
        }
        guard last < storage.count else {
            throw WeightError.badOffsets(
                file: file.path, tensor: name,
                reason: "offset \(spec.offset) with shape \(shape) and strides \(spec.strides) reaches element \(last)"
                    + " of a storage of \(storage.count)")
        }
        if Self.isContiguous(shape: shape, strides: spec.strides) {
            let start = spec.offset * elementBytes
            return StoredTensor(
                name: name, dtype: dtype, shape: shape,
                bytes: UnsafeRawBufferPointer(rebasing: source[start..<(start + byteCount)]), file: file)
        }
        let (copied, overflow) = copiedBytes.addingReportingOverflow(byteCount)
        copiedBytes = copied
        guard !overflow, copied <= max(file.bytes.count, 1 << 20) else {
            throw WeightError.badOffsets(
                file: file.path, tensor: name,
                reason: "non-contiguous tensors would be copied into more bytes than the file has (\(file.bytes.count))")
        }
        let copy = MappedFile(name: file.path, data: Self.gather(source, shape: shape, strides: spec.strides, offset: spec.offset, elementBytes: elementBytes))
        return StoredTensor(name: name, dtype: dtype, shape: shape, bytes: copy.bytes, file: copy)
    }

    /// Whether `strides` are the row-major strides of `shape` (dimensions of size 1 may have any).
    private static func isContiguous(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for (size, stride) in zip(shape, strides).reversed() {
            if size != 1 && stride != expected { return false }
            expected *= size
        }
        return true
    }

    /// The elements of a strided view, in row-major order (indices already checked in range).
    private static func gather(
        _ source: UnsafeRawBufferPointer, shape: [Int], strides: [Int], offset: Int, elementBytes: Int
    ) -> [UInt8] {
        let count = shape.reduce(1, *)
        var result = [UInt8](repeating: 0, count: count * elementBytes)
        var index = [Int](repeating: 0, count: shape.count)
        result.withUnsafeMutableBytes { out in
            guard let destination = out.baseAddress, let base = source.baseAddress else { return }
            for flat in 0..<count {
                var element = offset
                for d in 0..<shape.count { element += index[d] * strides[d] }
                (destination + flat * elementBytes).copyMemory(from: base + element * elementBytes, byteCount: elementBytes)
                // Advance the row-major index, innermost first.
                var d = shape.count - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < shape[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return result
    }
}
