import Foundation
import Testing
import TestSupport

@testable import Tensor

/// A FIFO (or any non-regular file) given as a weight file is refused at once with a typed
/// error; a plain `open` would wait for a writer forever.
@Suite struct NonRegularFileTests {
    @Test func safetensorsReaderRefusesAFIFO() throws {
        let fifo = try FIFOProbe(name: "model.safetensors")
        defer { fifo.remove() }
        let outcome = fifo.outcome { _ = try SafetensorsFile(path: fifo.path) }
        #expect(outcome.error as? WeightError == .cannotOpen(file: fifo.path, reason: "not a regular file (a FIFO)"), "\(outcome)")
    }

    @Test func ggufReaderRefusesAFIFO() throws {
        let fifo = try FIFOProbe(name: "model.gguf")
        defer { fifo.remove() }
        let outcome = fifo.outcome { _ = try GGUFFile(path: fifo.path) }
        #expect(outcome.error as? WeightError == .cannotOpen(file: fifo.path, reason: "not a regular file (a FIFO)"), "\(outcome)")
    }

    @Test func aFolderIsRefusedByName() throws {
        let folder = FileManager.default.temporaryDirectory.path
        #expect(throws: WeightError.cannotOpen(file: folder, reason: "not a regular file (a folder)")) { try MappedFile(path: folder) }
    }
}
