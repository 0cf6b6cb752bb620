import Foundation

/// The process's resident set size, from Linux's `/proc/self/statm` (its second field counts
/// resident pages); nil where there is no such file.
enum ResidentMemory {
    static func bytes(statm path: String = "/proc/self/statm") -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return bytes(statmText: text, pageSize: Int(sysconf(Int32(_SC_PAGESIZE))))
    }

    /// `size resident shared text lib data dt`, all in pages.
    static func bytes(statmText: String, pageSize: Int) -> Int? {
        let fields = statmText.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]), pageSize > 0 else { return nil }
        return pages * pageSize
    }
}
