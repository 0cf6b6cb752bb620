import Diffusion
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Server
import TestSupport
import Testing

/// The web page's routes (its behaviour in a browser is scripts/web-test's, in Chromium): the
/// files are the package's, served without the API key while everything else still needs it,
/// turned off by `servesWebPage = false`; and edits stream their steps, which the page shows.
@Suite struct WebPageTests {
    @Test func theFilesAreThePackagesAndNeedNoKey() async throws {
        let folder = try #require(WebRoutes.resourceFolder(), "swift-sd_Server.resources/Web beside the test binary")
        let configuration = testConfiguration { $0.apiKey = "page-key" }
        try await withServer(configuration, generator: FakeGenerator()) { client in
            for (route, file, type) in WebRoutes.files {
                let response = try await client.execute(uri: route, method: .get)
                #expect(response.status == .ok, "\(route)")
                #expect(response.headers[.contentType] == type)
                let onDisk = try Data(contentsOf: folder.appendingPathComponent(file))
                #expect(Data(response.text.utf8) == onDisk, "\(route) is not \(file)")
            }
            let models = try await client.execute(uri: "/v1/models", method: .get).status
            let post = try await client.execute(uri: "/ui/app.js", method: .post, headers: [.authorization: "Bearer page-key"]).status
            let other = try await client.execute(uri: "/ui/other.js", method: .get).status
            #expect(models == .unauthorized && post == .methodNotAllowed && other == .unauthorized, "\(models) \(post) \(other)")
        }
        let index = try String(contentsOf: folder.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(index.contains("/ui/app.js") && index.contains("/ui/style.css") && !index.contains("http"), "no CDN")
    }

    @Test func theFlagTurnsThePageOff() async throws {
        try await withServer(testConfiguration { $0.servesWebPage = false }, generator: FakeGenerator()) { client in
            let page = try await client.execute(uri: "/", method: .get).status
            let script = try await client.execute(uri: "/ui/app.js", method: .get).status
            #expect(page == .notFound && script == .notFound, "\(page) \(script)")
        }
    }

    @Test func editsStreamTheirSteps() async throws {
        let pipeline = try #require(builtInPipeline, "the built-in model must load")
        try await withServer(generator: pipeline) { client in
            var form = MultipartBuilder()
            form.add("prompt", "a yellow square")
            form.add("size", "32x32")
            form.add("steps", "3")
            form.add("strength", "0.8")
            form.add("stream", "true")
            form.add("response_format", "b64_json")
            form.addFile("image", filename: "in.png", testPNG(width: 32, height: 32))
            let response = try await client.postForm("/v1/images/edits", form)
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.headers[.contentType] == "text/event-stream")
            let names = response.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
                .compactMap { $0.split(separator: "\n").first.map { String($0.dropFirst("event: ".count)) } }
            // img2img at strength 0.8 runs the last steps of the schedule: 3 of 3 here.
            #expect(names.first == "queued" && names.last == "completed", "\(names)")
            #expect(names.filter { $0 == "progress" }.count >= 2, "\(names)")
        }
    }
}
