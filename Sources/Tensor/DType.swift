/// How a stored tensor's elements are encoded in a weight file.
///
/// Plain types hold one element per `blockBytes`; GGUF block-quantized types hold `blockSize`
/// elements (along the innermost dimension) in `blockBytes` bytes.
public enum DType: String, Sendable, Hashable, CaseIterable {
    case f32, f16, bf16, f64
    case i64, i32, i16, i8, u8, bool
    case q4_0, q4_1, q5_0, q5_1, q8_0
    case q2_K, q3_K, q4_K, q5_K, q6_K, q8_K

    /// Elements per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: 256
        default: 1
        }
    }

    /// Bytes per block (the element size for plain types).
    public var blockBytes: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        case .q4_0: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q8_0: 34
        case .q2_K: 84
        case .q3_K: 110
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        case .q8_K: 292
        }
    }

    /// Whether the type is one of GGUF's block-quantized formats.
    public var isQuantized: Bool { blockSize > 1 }

    /// Whether elements can be turned into Float32 values (every type but `bool`).
    public var isNumeric: Bool { self != .bool }

    /// Whether the type encodes real numbers (the float types and GGUF's block quantizations),
    /// as every model weight must: an integer type of the same byte size would pass the size
    /// checks and decode to nonsense.
    public var isFloatingPoint: Bool {
        switch self {
        case .f32, .f16, .bf16, .f64: true
        case .i64, .i32, .i16, .i8, .u8, .bool: false
        default: isQuantized
        }
    }

    /// Bytes needed for `shape`, or nil when the innermost dimension is not a whole number of blocks
    /// or the size overflows.
    public func byteCount(shape: [Int]) -> Int? {
        var elements = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, o) = elements.multipliedReportingOverflow(by: d)
            if o { return nil }
            elements = p
        }
        if blockSize > 1 {
            guard let inner = shape.last, inner % blockSize == 0 else { return elements == 0 ? 0 : nil }
        }
        let (bytes, o) = (elements / blockSize).multipliedReportingOverflow(by: blockBytes)
        return o ? nil : bytes
    }

    /// The safetensors spelling (`"F16"`, ...), for the types safetensors can hold.
    public var safetensorsName: String? {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .f64: "F64"
        case .i64: "I64"
        case .i32: "I32"
        case .i16: "I16"
        case .i8: "I8"
        case .u8: "U8"
        case .bool: "BOOL"
        default: nil
        }
    }

    /// The type named `name` in a safetensors header, if supported.
    public init?(safetensorsName name: String) {
        guard let match = DType.allCases.first(where: { $0.safetensorsName == name }) else { return nil }
        self = match
    }

    /// The ggml type id (GGUF `ggml_type`), for the types GGUF can hold.
    public var ggmlType: UInt32? {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q4_1: 3
        case .q5_0: 6
        case .q5_1: 7
        case .q8_0: 8
        case .q2_K: 10
        case .q3_K: 11
        case .q4_K: 12
        case .q5_K: 13
        case .q6_K: 14
        case .q8_K: 15
        case .i8: 24
        case .i16: 25
        case .i32: 26
        case .i64: 27
        case .f64: 28
        case .bf16: 30
        default: nil
        }
    }

    /// The type with ggml id `id`, if supported.
    public init?(ggmlType id: UInt32) {
        guard let match = DType.allCases.first(where: { $0.ggmlType == id }) else { return nil }
        self = match
    }
}
