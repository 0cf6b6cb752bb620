import Foundation
import Tensor

/// The file hashes A1111 writes into a picture's parameters (`Lora hashes`, `TI hashes`), by
/// which viewers and model sites find the file again: the first 12 hex digits of a SHA-256.
enum FileHash {
    /// A LoRA's (A1111 `networks`: sd-webui-additional-networks' hash for safetensors files, the
    /// data after the JSON header, so editing the metadata keeps it; the whole file otherwise).
    /// - Throws: `WeightError` when the file cannot be mapped.
    static func lora(_ path: String) throws -> String {
        let file = try MappedFile(path: path)
        return withExtendedLifetime(file) {
            let bytes = file.bytes
            var start = 0
            if path.lowercased().hasSuffix(".safetensors") && bytes.count >= 8 {
                let header = Int(clamping: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
                if header <= bytes.count - 8 { start = 8 + header }
            }
            return short(UnsafeRawBufferPointer(rebasing: bytes[start...]))
        }
    }

    /// An embedding's (A1111 `textual_inversion`: the whole file).
    /// - Throws: `WeightError` when the file cannot be mapped.
    static func whole(_ path: String) throws -> String {
        let file = try MappedFile(path: path)
        return withExtendedLifetime(file) { short(file.bytes) }
    }

    /// `lora(path)` computed on another thread, so that loading a LoRA does not wait for the
    /// hash (0.5 s per 70 MB on one core here); `value` waits for it.
    final class Pending: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var result: String?

        init(lora path: String) {
            DispatchQueue.global(qos: .utility).async { [self] in
                result = try? FileHash.lora(path)
                done.signal()
            }
        }

        /// The hash, or nil when the file could not be read again.
        var value: String? {
            done.wait()
            done.signal()  // later readers do not wait
            return result
        }
    }

    private static func short(_ bytes: UnsafeRawBufferPointer) -> String { String(SHA256.hex(bytes).prefix(12)) }
}
