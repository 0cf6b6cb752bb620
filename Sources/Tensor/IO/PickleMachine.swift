// A restricted interpreter of Python's pickle format (the opcodes are documented in CPython's
// `pickletools`), for the pickles `torch.save` writes: protocol 2 by default, up to 5 when
// asked. A pickle is a program for a stack machine; a normal unpickler imports and calls any
// `module.name` the program asks for (GLOBAL/STACK_GLOBAL + REDUCE/NEWOBJ/BUILD), which is how a
// `.ckpt` can run `os.system`. This one calls nothing: it understands a fixed list of PyTorch
// names (`PickleGlobal`) as data constructors, turns every other name into an error naming it,
// and never evaluates anything.
//
// Values are small enums; containers live in `PickleHeap` arrays and are referred to by index,
// so a list that contains itself is no reference cycle, and freeing a structure nested a
// million deep recurses nowhere. Every resource a hostile pickle could inflate is bounded:
// stack, marks, memo and the total number of container elements, each well above what the
// largest real checkpoints need.

/// A value on the pickle machine's stack. Containers and tensors are indices into a `PickleHeap`.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    /// A `bytes` or `bytearray` (contents are never needed, so they are not kept).
    case bytes
    case tuple(Int)
    case list(Int)
    case dict(Int)
    /// An instance made by NEWOBJ (a `ParameterDict`).
    case object(Int)
    case global(PickleGlobal)
    case storage(Int)
    case tensor(Int)
    /// The result of constructing one of the inert names: a placeholder that is never a tensor.
    case opaque(String)
}

/// The Python names a PyTorch pickle may use. Anything else is refused when the pickle names it.
enum PickleGlobal: Equatable {
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    case rebuildTensorV2
    /// `torch._utils._rebuild_tensor(storage, offset, size, stride)` (torch < 1.0).
    case rebuildTensor
    /// `torch._utils._rebuild_parameter(tensor, requires_grad, hooks)`: the tensor itself.
    case rebuildParameter
    /// `torch._utils._rebuild_parameter_with_state(tensor, requires_grad, hooks, state)`.
    case rebuildParameterWithState
    /// `collections.OrderedDict`: a dict.
    case orderedDict
    /// `builtins.set` (`__builtin__.set` in protocol 2): a list of its elements.
    case set
    /// `torch.FloatStorage` and friends: the dtype of a storage in a persistent id.
    case storage(DType)
    /// `torch.nn.modules.container.ParameterDict` (old textual-inversion embeddings): read as
    /// the dict in its `_parameters`.
    case parameterDict
    /// Data-only classes that PyTorch Lightning writes beside the weights (the checkpoint
    /// callback, used as a dict key, and numpy scalars in its state). Constructing one gives an
    /// `.opaque` placeholder; nothing is called.
    case inert(String)

    /// The storage classes torch writes in persistent ids (the typed names of legacy storages).
    static let storageTypes: [String: DType] = [
        "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16, "DoubleStorage": .f64,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool,
    ]

    static let inertNames: Set<String> = [
        "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype", "_codecs.encode",
    ]

    /// The global `module.name`, or nil when it is not one of the allowed names.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("builtins", "set"), ("__builtin__", "set"): self = .set
        case ("torch.nn.modules.container", "ParameterDict"): self = .parameterDict
        case ("torch", _):
            guard let dtype = Self.storageTypes[name] else { return nil }
            self = .storage(dtype)
        default:
            let full = module + "." + name
            guard Self.inertNames.contains(full) else { return nil }
            self = .inert(full)
        }
    }
}

/// A dict's entries in insertion order; keys that are strings or integers are found again by
/// SETITEM (a repeated key replaces the value, as in Python).
struct PickleDict {
    enum Key: Hashable {
        case string(String), int(Int)
    }

    private(set) var keys: [PickleValue] = []
    private(set) var values: [PickleValue] = []
    private var index: [Key: Int] = [:]

    mutating func set(_ key: PickleValue, _ value: PickleValue) {
        let lookup: Key?
        switch key {
        case .string(let s): lookup = .string(s)
        case .int(let i): lookup = .int(i)
        default: lookup = nil
        }
        if let lookup, let at = index[lookup] {
            values[at] = value
            return
        }
        if let lookup { index[lookup] = keys.count }
        keys.append(key)
        values.append(value)
    }

    /// The value under the string key `key`.
    func value(forKey key: String) -> PickleValue? {
        index[.string(key)].map { values[$0] }
    }
}

/// A storage named by a persistent id `('storage', storage_type, key, location, numel)`.
struct PickleStorage {
    let key: String
    let dtype: DType
    let count: Int
}

/// The arguments of a `_rebuild_tensor_v2` call, checked later against the storage (with the
/// tensor's name known for the error message).
struct PickleTensor {
    let storage: Int
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// Everything a pickle's containers and tensors hold.
struct PickleHeap {
    var tuples: [[PickleValue]] = []
    var lists: [[PickleValue]] = []
    var dicts: [PickleDict] = []
    /// The state BUILD gave each object (nil before BUILD).
    var objects: [(kind: PickleGlobal, state: PickleValue?)] = []
    var storages: [PickleStorage] = []
    var tensors: [PickleTensor] = []
}

/// Runs one pickle program under the restrictions above.
struct PickleMachine {
    /// Most values on the stack at once.
    static let maximumStack = 1 << 20
    /// Most open MARKs at once.
    static let maximumMarks = 1 << 16
    /// Most memo entries.
    static let maximumMemo = 1 << 21
    /// Most container elements and heap objects made in all (a real SDXL checkpoint needs about
    /// 10^5).
    static let maximumCells = 1 << 22
    /// Longest module or name of a GLOBAL.
    static let maximumNameBytes = 1024

    private var cursor: ByteCursor
    /// The file name used in errors.
    private let file: String
    /// The pickle's name inside the file (`archive/data.pkl`), for errors.
    private let entry: String
    private var stack: [PickleValue] = []
    /// Stack heights at each open MARK: nothing below the top one can be popped (as in CPython,
    /// which starts a fresh stack at each MARK).
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var cells = 0
    private var opcodeOffset = 0
    private(set) var heap = PickleHeap()

    /// Runs `bytes` to its STOP and returns the value it leaves with everything that value
    /// refers to.
    /// - Throws: `WeightError.forbiddenGlobal` for any name outside `PickleGlobal`,
    ///   `.badHeader` naming the file, the pickle and the byte for anything malformed or over a
    ///   limit.
    static func run(_ bytes: UnsafeRawBufferPointer, file: String, entry: String) throws -> (root: PickleValue, heap: PickleHeap) {
        var machine = PickleMachine(cursor: ByteCursor(bytes: bytes, file: file), file: file, entry: entry)
        let root = try machine.run()
        return (root, machine.heap)
    }

    private init(cursor: ByteCursor, file: String, entry: String) {
        self.cursor = cursor
        self.file = file
        self.entry = entry
    }

    /// An error about the opcode being run.
    private func failure(_ reason: String) -> WeightError {
        .badHeader(file: file, reason: "\(entry) at byte \(opcodeOffset): \(reason)")
    }

    private mutating func run() throws -> PickleValue {
        while true {
            opcodeOffset = cursor.offset
            guard cursor.remaining > 0 else { throw failure("the pickle ends without STOP") }
            let opcode: UInt8
            do { opcode = try cursor.read(UInt8.self) } catch { throw failure("the pickle ends without STOP") }
            do {
                if let result = try step(opcode) { return result }
            } catch WeightError.truncated {
                throw failure("the pickle ends inside opcode 0x\(String(opcode, radix: 16))")
            }
        }
    }

    /// Runs one opcode; returns the result at STOP.
    private mutating func step(_ opcode: UInt8) throws -> PickleValue? {
        switch opcode {
        case 0x80:  // PROTO
            let version = try cursor.read(UInt8.self)
            guard version <= 5 else { throw failure("pickle protocol \(version) is newer than 5") }
        case 0x95:  // FRAME: a length prefix for buffering; the opcodes follow inline.
            _ = try cursor.read(UInt64.self)
        case 0x2e:  // STOP
            return try pop()

        // Marks and stack manipulation.
        case 0x28:  // MARK
            guard marks.count < Self.maximumMarks else { throw failure("more than \(Self.maximumMarks) open MARKs") }
            marks.append(stack.count)
        case 0x30:  // POP: the top value, or the top mark when nothing is above it.
            if stack.count > (marks.last ?? 0) {
                stack.removeLast()
            } else {
                _ = try popMark()
            }
        case 0x31:  // POP_MARK
            _ = try popMark()
        case 0x32:  // DUP
            try push(try top())

        // Scalars.
        case 0x4e: try push(.none)  // NONE
        case 0x88: try push(.bool(true))  // NEWTRUE
        case 0x89: try push(.bool(false))  // NEWFALSE
        case 0x4a: try push(.int(Int(try cursor.read(Int32.self))))  // BININT
        case 0x4b: try push(.int(Int(try cursor.read(UInt8.self))))  // BININT1
        case 0x4d: try push(.int(Int(try cursor.read(UInt16.self))))  // BININT2
        case 0x8a: try push(.int(try readLong(byteCount: Int(try cursor.read(UInt8.self)))))  // LONG1
        case 0x8b:  // LONG4
            let count = try cursor.read(Int32.self)
            guard count >= 0 else { throw failure("LONG4 with a negative length") }
            try push(.int(try readLong(byteCount: Int(count))))
        case 0x47:  // BINFLOAT: big-endian binary64
            try push(.float(Double(bitPattern: try cursor.read(UInt64.self).byteSwapped)))
        case 0x58: try push(.string(try readString(UInt64(try cursor.read(UInt32.self)))))  // BINUNICODE
        case 0x8c: try push(.string(try readString(UInt64(try cursor.read(UInt8.self)))))  // SHORT_BINUNICODE
        case 0x8d: try push(.string(try readString(try cursor.read(UInt64.self))))  // BINUNICODE8
        case 0x54: try push(.string(try readString(UInt64(try cursor.read(UInt32.self)))))  // BINSTRING (Python 2 str)
        case 0x55: try push(.string(try readString(UInt64(try cursor.read(UInt8.self)))))  // SHORT_BINSTRING
        case 0x42: try skipBytes(UInt64(try cursor.read(UInt32.self)))  // BINBYTES
        case 0x43: try skipBytes(UInt64(try cursor.read(UInt8.self)))  // SHORT_BINBYTES
        case 0x8e, 0x96: try skipBytes(try cursor.read(UInt64.self))  // BINBYTES8, BYTEARRAY8

        // Containers.
        case 0x29: try push(.tuple(try newTuple([])))  // EMPTY_TUPLE
        case 0x85: try push(.tuple(try newTuple([try pop()])))  // TUPLE1
        case 0x86:  // TUPLE2
            let b = try pop(), a = try pop()
            try push(.tuple(try newTuple([a, b])))
        case 0x87:  // TUPLE3
            let c = try pop(), b = try pop(), a = try pop()
            try push(.tuple(try newTuple([a, b, c])))
        case 0x74: try push(.tuple(try newTuple(try popMark())))  // TUPLE
        case 0x5d, 0x8f: try push(.list(try newList([])))  // EMPTY_LIST, EMPTY_SET
        case 0x6c, 0x91: try push(.list(try newList(try popMark())))  // LIST, FROZENSET
        case 0x61:  // APPEND
            let value = try pop()
            try append([value])
        case 0x65, 0x90:  // APPENDS, ADDITEMS
            let values = try popMark()
            try append(values)
        case 0x7d: try push(.dict(try newDict([])))  // EMPTY_DICT
        case 0x64: try push(.dict(try newDict(try popMark())))  // DICT
        case 0x73:  // SETITEM
            let value = try pop(), key = try pop()
            try setItems([key, value])
        case 0x75:  // SETITEMS
            let items = try popMark()
            try setItems(items)

        // Memo.
        case 0x71: try put(Int(try cursor.read(UInt8.self)))  // BINPUT
        case 0x72: try put(Int(try cursor.read(UInt32.self)))  // LONG_BINPUT
        case 0x94: try put(memo.count)  // MEMOIZE
        case 0x68: try get(Int(try cursor.read(UInt8.self)))  // BINGET
        case 0x6a: try get(Int(try cursor.read(UInt32.self)))  // LONG_BINGET

        // Names and construction.
        case 0x63:  // GLOBAL: "module\nname\n"
            let module = try readLine(), name = try readLine()
            try push(.global(try resolve(module: module, name: name)))
        case 0x93:  // STACK_GLOBAL
            let name = try pop(), module = try pop()
            guard case .string(let n) = name, case .string(let m) = module else {
                throw failure("STACK_GLOBAL of values that are not strings")
            }
            try push(.global(try resolve(module: m, name: n)))
        case 0x52:  // REDUCE: callable(*args)
            let arguments = try pop(), callable = try pop()
            try push(try call(callable, arguments))
        case 0x81:  // NEWOBJ: cls.__new__(cls, *args)
            _ = try pop()
            try push(try instantiate(try pop()))
        case 0x92:  // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
            _ = try pop()
            _ = try pop()
            try push(try instantiate(try pop()))
        case 0x62:  // BUILD: obj.__setstate__(state)
            let state = try pop()
            try build(try top(), state: state)
        case 0x51:  // BINPERSID: a storage in the zip archive
            try push(try storage(try pop()))

        default:
            throw failure("opcode 0x\(String(opcode, radix: 16)) (\(Self.opcodeName(opcode))) is not supported")
        }
        return nil
    }

    // MARK: - Stack

    private mutating func push(_ value: PickleValue) throws {
        guard stack.count < Self.maximumStack else { throw failure("more than \(Self.maximumStack) values on the stack") }
        stack.append(value)
    }

    private mutating func pop() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw failure("stack underflow") }
        return stack.removeLast()
    }

    private func top() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.last else { throw failure("stack underflow") }
        return value
    }

    /// The values above the top mark, removing them and the mark.
    private mutating func popMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw failure("no MARK to pop to") }
        let values = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return values
    }

    private mutating func put(_ index: Int) throws {
        guard memo.count < Self.maximumMemo || memo[index] != nil else {
            throw failure("more than \(Self.maximumMemo) memo entries")
        }
        memo[index] = try top()
    }

    private mutating func get(_ index: Int) throws {
        guard let value = memo[index] else { throw failure("memo entry \(index) was never stored") }
        try push(value)
    }

    // MARK: - Containers

    /// Counts `count` new elements against `maximumCells`.
    private mutating func spend(_ count: Int) throws {
        cells += count
        guard cells <= Self.maximumCells else {
            throw failure("more than \(Self.maximumCells) container elements")
        }
    }

    private mutating func newTuple(_ values: [PickleValue]) throws -> Int {
        try spend(values.count + 1)
        heap.tuples.append(values)
        return heap.tuples.count - 1
    }

    private mutating func newList(_ values: [PickleValue]) throws -> Int {
        try spend(values.count + 1)
        heap.lists.append(values)
        return heap.lists.count - 1
    }

    private mutating func newDict(_ items: [PickleValue]) throws -> Int {
        guard items.count % 2 == 0 else { throw failure("DICT with an odd number of items") }
        try spend(items.count + 1)
        var dict = PickleDict()
        for i in stride(from: 0, to: items.count, by: 2) { dict.set(items[i], items[i + 1]) }
        heap.dicts.append(dict)
        return heap.dicts.count - 1
    }

    private mutating func append(_ values: [PickleValue]) throws {
        guard case .list(let id) = try top() else { throw failure("APPEND to something that is not a list") }
        try spend(values.count)
        heap.lists[id] += values
    }

    private mutating func setItems(_ items: [PickleValue]) throws {
        guard case .dict(let id) = try top() else { throw failure("SETITEM on something that is not a dict") }
        guard items.count % 2 == 0 else { throw failure("SETITEMS with an odd number of items") }
        try spend(items.count)
        for i in stride(from: 0, to: items.count, by: 2) { heap.dicts[id].set(items[i], items[i + 1]) }
    }

    // MARK: - Globals

    private mutating func readLine() throws -> String {
        var bytes: [UInt8] = []
        while true {
            let byte = try cursor.read(UInt8.self)
            if byte == 0x0a { break }
            guard bytes.count < Self.maximumNameBytes else { throw failure("a GLOBAL name longer than \(Self.maximumNameBytes) bytes") }
            bytes.append(byte)
        }
        guard let line = String(validating: bytes, as: UTF8.self) else { throw failure("a GLOBAL name that is not UTF-8") }
        return line
    }

    private func resolve(module: String, name: String) throws -> PickleGlobal {
        guard let global = PickleGlobal(module: module, name: name) else {
            throw WeightError.forbiddenGlobal(file: file, global: module + "." + name)
        }
        return global
    }

    /// REDUCE: the result of calling an allowed name on `arguments`.
    private mutating func call(_ callable: PickleValue, _ arguments: PickleValue) throws -> PickleValue {
        guard case .tuple(let argumentsID) = arguments else { throw failure("REDUCE with arguments that are not a tuple") }
        let args = heap.tuples[argumentsID]
        switch callable {
        case .opaque(let name): return .opaque(name)
        case .global(let global):
            switch global {
            case .rebuildTensorV2, .rebuildTensor: return try rebuildTensor(args)
            case .rebuildParameter, .rebuildParameterWithState:
                guard case .tensor = args.first else { throw failure("_rebuild_parameter of something that is not a tensor") }
                return args[0]
            case .orderedDict, .set:
                // OrderedDict() or OrderedDict([(key, value), ...]); set() or set([elements]).
                var elements: [PickleValue] = []
                if let first = args.first {
                    guard args.count == 1, case .list(let listID) = first else {
                        throw failure("\(global) called with arguments other than one list")
                    }
                    elements = heap.lists[listID]
                }
                if global == .set { return .list(try newList(elements)) }
                var items: [PickleValue] = []
                for element in elements {
                    guard case .tuple(let pairID) = element, heap.tuples[pairID].count == 2 else {
                        throw failure("OrderedDict called with an item that is not a pair")
                    }
                    items += heap.tuples[pairID]
                }
                return .dict(try newDict(items))
            case .parameterDict: return try instantiate(callable)
            case .inert(let name): return .opaque(name)
            case .storage: throw failure("a storage type is called")
            }
        default: throw failure("REDUCE of something that is not callable")
        }
    }

    /// NEWOBJ: an instance of an allowed class.
    private mutating func instantiate(_ cls: PickleValue) throws -> PickleValue {
        switch cls {
        case .global(.parameterDict):
            try spend(1)
            heap.objects.append((.parameterDict, nil))
            return .object(heap.objects.count - 1)
        case .global(.orderedDict): return .dict(try newDict([]))
        case .global(.inert(let name)), .opaque(let name): return .opaque(name)
        default: throw failure("NEWOBJ of something that is not an allowed class")
        }
    }

    /// BUILD: an object's state. Dicts (an OrderedDict's `_metadata`), tensors and placeholders
    /// keep no state.
    private mutating func build(_ target: PickleValue, state: PickleValue) throws {
        switch target {
        case .object(let id): heap.objects[id].state = state
        case .dict, .tensor, .opaque: break
        default: throw failure("BUILD of something that is not an object")
        }
    }

    // MARK: - Tensors

    /// A persistent id `('storage', storage_type, key, location, numel)`.
    private mutating func storage(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let id) = pid, heap.tuples[id].count == 5 else {
            throw failure("a persistent id that is not a 5-tuple ('storage', type, key, location, count)")
        }
        let fields = heap.tuples[id]
        guard case .string("storage") = fields[0] else { throw failure("a persistent id that is not a storage") }
        guard case .global(.storage(let dtype)) = fields[1] else { throw failure("a storage whose type is not a torch storage class") }
        let key: String
        switch fields[2] {
        case .string(let s): key = s
        case .int(let i): key = String(i)
        default: throw failure("a storage key that is not a string")
        }
        guard case .int(let count) = fields[4], count >= 0 else { throw failure("a storage size that is not a non-negative integer") }
        try spend(1)
        heap.storages.append(PickleStorage(key: key, dtype: dtype, count: count))
        return .storage(heap.storages.count - 1)
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)`.
    private mutating func rebuildTensor(_ args: [PickleValue]) throws -> PickleValue {
        guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1] else {
            throw failure("_rebuild_tensor called without (storage, offset, size, stride)")
        }
        let shape = try integers(args[2], what: "size")
        let strides = try integers(args[3], what: "stride")
        try spend(1)
        heap.tensors.append(PickleTensor(storage: storage, offset: offset, shape: shape, strides: strides))
        return .tensor(heap.tensors.count - 1)
    }

    private func integers(_ value: PickleValue, what: String) throws -> [Int] {
        guard case .tuple(let id) = value else { throw failure("a tensor \(what) that is not a tuple") }
        return try heap.tuples[id].map { element in
            guard case .int(let n) = element else { throw failure("a tensor \(what) that is not all integers") }
            return n
        }
    }

    // MARK: - Operands

    /// A little-endian two's-complement integer of `byteCount` bytes, which must fit in 64 bits.
    private mutating func readLong(byteCount: Int) throws -> Int {
        guard byteCount <= 8 else {
            try cursor.require(byteCount)
            throw failure("an integer of \(byteCount) bytes does not fit in 64 bits")
        }
        let bytes = try cursor.readBytes(byteCount)
        var value: UInt64 = 0
        for (i, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        // Sign-extend from the top byte read.
        if byteCount > 0, byteCount < 8, bytes[byteCount - 1] & 0x80 != 0 { value |= ~0 << (8 * UInt64(byteCount)) }
        return Int(Int64(bitPattern: value))
    }

    private mutating func readString(_ length: UInt64) throws -> String {
        let count = try cursor.checkCount(length, minimumBytes: 1)
        let raw = try cursor.readBytes(count)
        guard let s = String(validating: raw, as: UTF8.self) else { throw failure("a string that is not valid UTF-8") }
        return s
    }

    private mutating func skipBytes(_ length: UInt64) throws {
        _ = try cursor.readBytes(try cursor.checkCount(length, minimumBytes: 1))
        try push(.bytes)
    }

    /// The pickletools name of an opcode this machine refuses.
    private static func opcodeName(_ opcode: UInt8) -> String {
        let names: [UInt8: String] = [
            0x46: "FLOAT", 0x49: "INT", 0x4c: "LONG", 0x50: "PERSID", 0x53: "STRING", 0x56: "UNICODE", 0x67: "GET",
            0x69: "INST", 0x6f: "OBJ", 0x70: "PUT", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x97: "NEXT_BUFFER",
            0x98: "READONLY_BUFFER",
        ]
        return names[opcode] ?? "unknown"
    }
}
