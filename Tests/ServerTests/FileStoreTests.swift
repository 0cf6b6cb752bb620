import Foundation
@testable import Server
import Testing

@Suite struct FileStoreTests {
    @Test func idsAndNamesAreStrict() {
        #expect(FileStore.isValidID("file_\(UUID().uuidString.lowercased())"))
        for bad in ["file_", "file_..", "../file_x", "file_\(UUID().uuidString)/..", "x_\(UUID().uuidString)"] {
            #expect(!FileStore.isValidID(bad), "\(bad)")
        }
        #expect(FileStore.isValidName("output-2.png"))
        for bad in ["", ".", "..", ".hidden", "a/b", "a\\b", "a b", String(repeating: "a", count: 200), "é.png"] {
            #expect(!FileStore.isValidName(bad), "\(bad)")
        }
    }

    @Test func filesExpireAfterTheirTimeToLive() throws {
        let directory = NSTemporaryDirectory() + "sd-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try FileStore(directory: directory, timeToLive: .seconds(60))
        let file = try store.save([1, 2, 3], name: "output.png")
        #expect(store.list().map(\.id) == [file.id])
        #expect(store.sweep(now: Date().addingTimeInterval(30)) == 0)
        #expect(store.sweep(now: Date().addingTimeInterval(61)) == 1)
        #expect(store.list().isEmpty)
        #expect(throws: ServerError.notFound("file \(file.id) not found")) { try store.object(file.id) }
    }
}
