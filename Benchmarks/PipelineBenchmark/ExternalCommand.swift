import Foundation

/// Runs another program to completion and captures its stdout and stderr together.
struct ExternalCommand {
    let executable: String
    let arguments: [String]

    /// The command line as a shell would show it (for the log).
    var commandLine: String {
        ([executable] + arguments).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
    }

    /// Runs the program; returns its exit status, output and wall-clock seconds.
    /// - Throws: Foundation's error when it cannot be started.
    func run() throws -> (status: Int32, output: String, seconds: Double) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.resolved(executable))
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let start = DispatchTime.now().uptimeNanoseconds
        try process.run()
        // Read to EOF before waiting, so a chatty program cannot block on a full pipe.
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (process.terminationStatus, String(decoding: data, as: UTF8.self), seconds)
    }

    /// `name` looked up in `PATH` when it has no slash (`--python python3`), as a shell would;
    /// `Process` itself takes paths only.
    static func resolved(_ name: String) -> String {
        guard !name.contains("/") else { return name }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return name
    }

    /// The last `lines` lines of `output`, for error messages.
    static func tail(_ output: String, lines: Int = 20) -> String {
        output.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
