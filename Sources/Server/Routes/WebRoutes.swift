import Foundation
import Hummingbird

/// The web page (`GET /`) and its two files (`/ui/app.js`, `/ui/style.css`): static files of the
/// package (Sources/Server/Web), read once at start-up from the resource folder SwiftPM puts
/// beside the binary (`swift-sd_Server.resources`). They need no API key: the page asks for one.
struct WebRoutes {
    /// A file of the page.
    struct Asset: Sendable {
        let bytes: [UInt8]
        let contentType: String
    }

    static let files: [(route: String, file: String, type: String)] = [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/ui/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "style.css", "text/css; charset=utf-8"),
    ]

    /// Paths served without the API key.
    static let publicPaths = Set(files.map(\.route))

    /// The page's files by route, or nil when the resource folder is not beside the binary (a
    /// binary copied without it).
    static func load(from folder: URL? = resourceFolder()) -> [String: Asset]? {
        guard let folder else { return nil }
        var assets: [String: Asset] = [:]
        for entry in files {
            guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(entry.file).path) else { return nil }
            assets[entry.route] = Asset(bytes: Array(data), contentType: entry.type)
        }
        return assets
    }

    /// `<directory of the executable>/swift-sd_Server.resources/Web` (test bundles live in the
    /// same build folder), found without `Bundle.module`, which ends the process when it is absent.
    static func resourceFolder() -> URL? {
        let executable = URL(fileURLWithPath: CommandLine.arguments.first.map { $0 } ?? "").resolvingSymlinksInPath()
        let candidates = [
            Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent(),
            executable.deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ].compactMap { $0 }
        for directory in candidates {
            let folder = directory.appendingPathComponent("swift-sd_Server.resources/Web")
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("index.html").path) { return folder }
        }
        return nil
    }

    let assets: [String: Asset]?

    func register(on router: Router<ServerRequestContext>) {
        for entry in Self.files {
            router.get(RouterPath(entry.route)) { _, _ in
                guard let asset = assets?[entry.route] else {
                    throw ServerError.notFound(
                        "the web page's files are not installed: keep swift-sd_Server.resources beside the sd binary")
                }
                return Response(
                    status: .ok,
                    headers: [.contentType: asset.contentType, .cacheControl: "no-cache"],
                    body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
            }
            if entry.route != "/" { MethodGuard.refuse(on: router, path: String(entry.route.dropFirst()), allowing: [.get]) }
        }
    }
}
