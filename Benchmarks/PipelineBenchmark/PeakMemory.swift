import Foundation

/// The process's resident memory, from `/proc/self/status` (Linux).
enum PeakMemory {
    /// Peak resident set size in bytes (`VmHWM`), nil where /proc is not available.
    static func highWaterMark() -> Int? { statusField("VmHWM:") }

    /// Current resident set size in bytes (`VmRSS`).
    static func resident() -> Int? { statusField("VmRSS:") }

    /// Resets `VmHWM` to the current RSS (writing 5 to `/proc/self/clear_refs`, Linux 4.0+), so the
    /// next reading is the peak of what runs after. Returns false where that is not allowed; the
    /// peak then covers the whole process so far.
    @discardableResult
    static func reset() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    /// "3.61 GiB".
    static func format(_ bytes: Int) -> String { String(format: "%.2f GiB", Double(bytes) / 1_073_741_824) }

    private static func statusField(_ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field) {
            // "VmHWM:	  123456 kB"
            let number = line.dropFirst(field.count).split(separator: " ").first { Int($0.trimmingCharacters(in: .whitespaces)) != nil }
            return number.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { $0 * 1024 }
        }
        return nil
    }
}
