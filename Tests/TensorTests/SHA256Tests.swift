import Foundation
import Testing

@testable import Tensor

/// SHA-256 against the FIPS 180-4 examples (one block, two blocks, a million bytes) and fed in
/// pieces that cut blocks anywhere.
@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func knownDigests(message: String, digest: String) {
        #expect(SHA256.hex(Array(message.utf8)) == digest)
    }

    @Test func aMillionBytesInPieces() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(SHA256.hex(message) == expected)
        var hasher = SHA256()
        var start = 0
        for size in [1, 63, 64, 65, 127, 1000, 4096, 7] where start < message.count {
            message[start..<(start + size)].withUnsafeBytes { hasher.update($0) }
            start += size
        }
        message[start...].withUnsafeBytes { hasher.update($0) }
        let hex = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        #expect(hex == expected)
    }
}
