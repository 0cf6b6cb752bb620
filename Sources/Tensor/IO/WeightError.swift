/// Everything that can be wrong with a weight file or with what a model expects of it.
///
/// Every case names the file and, where there is one, the tensor, so that a user with a corrupt
/// checkpoint knows what to re-download.
public enum WeightError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(file: String, reason: String)
    case truncated(file: String, expectedBytes: Int, actualBytes: Int)
    case badMagic(file: String)
    case unsupportedVersion(file: String, version: Int)
    case badHeader(file: String, reason: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// A tensor a model reads as weights is stored in an integer or boolean type.
    case notFloatingPoint(file: String, tensor: String, dtype: String)
    case badShape(file: String, tensor: String, shape: [Int], reason: String)
    case badOffsets(file: String, tensor: String, reason: String)
    case overlappingTensors(file: String, first: String, second: String)
    case duplicateTensor(file: String, tensor: String)
    case missingTensor(file: String, tensor: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], actual: [Int])
    case unusedTensors(file: String, tensors: [String])
    /// A mapped file was truncated or rewritten after it was loaded (`MappedFile.checkUnchanged`).
    case changedOnDisk(file: String, reason: String)
    /// A PyTorch pickle names a Python global outside the few the reader understands (a
    /// hostile file's `os.system`, or a pickled model class): it is refused, never called.
    case forbiddenGlobal(file: String, global: String)

    public var description: String {
        switch self {
        case .cannotOpen(let file, let reason): "\(file): cannot open: \(reason)"
        case .truncated(let file, let expected, let actual):
            "\(file): truncated: needs \(expected) bytes, has \(actual)"
        case .badMagic(let file): "\(file): not a weight file of the expected format (bad magic)"
        case .unsupportedVersion(let file, let version): "\(file): unsupported format version \(version)"
        case .badHeader(let file, let reason): "\(file): malformed header: \(reason)"
        case .unsupportedDType(let file, let tensor, let dtype): "\(file): tensor '\(tensor)': unsupported dtype \(dtype)"
        case .notFloatingPoint(let file, let tensor, let dtype):
            "\(file): tensor '\(tensor)': dtype \(dtype) is not a floating-point type; weights must be F32, F16, BF16,"
                + " F64 or a GGUF quantization"
        case .badShape(let file, let tensor, let shape, let reason):
            "\(file): tensor '\(tensor)': bad shape \(shape): \(reason)"
        case .badOffsets(let file, let tensor, let reason): "\(file): tensor '\(tensor)': bad data offsets: \(reason)"
        case .overlappingTensors(let file, let first, let second):
            "\(file): tensors '\(first)' and '\(second)' overlap"
        case .duplicateTensor(let file, let tensor): "\(file): tensor '\(tensor)' appears twice"
        case .missingTensor(let file, let tensor): "\(file): missing tensor '\(tensor)'"
        case .shapeMismatch(let file, let tensor, let expected, let actual):
            "\(file): tensor '\(tensor)' has shape \(actual), expected \(expected)"
        case .changedOnDisk(let file, let reason): "\(file): changed on disk since it was loaded: \(reason)"
        case .forbiddenGlobal(let file, let global):
            "\(file): the pickle uses \(global), which is not allowed (only tensors, storages and plain containers are"
                + " read; nothing in the file is run)"
        case .unusedTensors(let file, let tensors):
            "\(file): \(tensors.count) unused tensors: \(tensors.prefix(10).joined(separator: ", "))"
                + (tensors.count > 10 ? ", ..." : "")
        }
    }
}
