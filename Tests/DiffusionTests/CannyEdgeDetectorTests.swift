import Tensor
import Testing

@testable import Diffusion

/// Fixture canny_cases from `python Tests/Golden/generate_canny_fixtures.py` (OpenCV 5.1): small
/// RGB pictures and OpenCV's grey, blurred grey and Canny edges of that blurred grey, with the
/// default relative thresholds and with absolute 100 / 200. Every stage must match OpenCV exactly.
@Suite struct CannyEdgeDetectorTests {
    static let cases = ["shapes", "lines", "odd", "clean", "tiny"]

    @Test func fixtureHoldsTheCasesMadeWithTheDefaultThresholds() throws {
        let fixture = try CannyFixture()
        #expect(fixture.metadata["cases"] == CannyEdgeDetectorTests.cases.joined(separator: ","))
        #expect(try fixture.relative() == CannyEdgeDetector.defaultThresholds)
        #expect(CannyEdgeDetector().thresholds == .relative(low: 0.0064, high: 0.08))
    }

    @Test(arguments: CannyEdgeDetectorTests.cases) func greyIsOpenCVsExactly(name: String) throws {
        let fixture = try CannyFixture()
        let grey = CannyEdgeDetector.grey(try fixture.image(name))
        #expect(try mismatch(grey, fixture.plane(name, "grey")) == nil)
    }

    @Test func blurKernelIsOpenCVsFixedPointKernel() {
        // cv2.GaussianBlur's 8-bit kernel for 5x5, sigma 1.4, in units of 1/256.
        #expect(CannyEdgeDetector.blur.taps == [28, 61, 78, 61, 28])
    }

    @Test(arguments: CannyEdgeDetectorTests.cases) func blurIsOpenCVsExactly(name: String) throws {
        let fixture = try CannyFixture()
        let blurred = CannyEdgeDetector.blurred(try fixture.plane(name, "grey"))
        #expect(try mismatch(blurred, fixture.plane(name, "blurred")) == nil)
    }

    @Test(arguments: CannyEdgeDetectorTests.cases) func edgesOfOpenCVsBlurAreOpenCVsCanny(name: String) throws {
        let fixture = try CannyFixture()
        let blurred = try fixture.plane(name, "blurred")

        // The relative thresholds resolve to the very doubles the generator passed to cv2.Canny.
        let gradient = SobelGradient(blurred)
        #expect(String(gradient.maxSquaredMagnitude) == fixture.metadata["\(name).max_squared_magnitude"])
        let relative = CannyEdgeDetector(thresholds: try fixture.relative())
        let resolved = relative.absoluteThresholds(maxSquaredMagnitude: gradient.maxSquaredMagnitude)
        let expected = try #require(fixture.metadata["\(name).relative_thresholds"]).split(separator: ",").compactMap { Double($0) }
        #expect(expected == [resolved.low, resolved.high])

        #expect(try mismatch(relative.edges(ofGrey: blurred), fixture.plane(name, "canny_relative")) == nil)
        let absolute = CannyEdgeDetector(thresholds: try fixture.absolute())
        #expect(try mismatch(absolute.edges(ofGrey: blurred), fixture.plane(name, "canny_absolute")) == nil)
    }

    /// Our grey, blur and Canny from the RGB picture against OpenCV's whole chain.
    @Test(arguments: CannyEdgeDetectorTests.cases) func wholeChainIsOpenCVsChain(name: String) throws {
        let fixture = try CannyFixture()
        let map = CannyEdgeDetector(thresholds: try fixture.relative()).edgeMap(of: try fixture.image(name))
        let opencv = try fixture.plane(name, "canny_relative")
        #expect(map.pixels.count == 3 * opencv.pixels.count)
        for channel in 0..<3 {
            let plane = GreyImage(
                width: map.width, height: map.height, pixels: stride(from: channel, to: map.pixels.count, by: 3).map { map.pixels[$0] })
            #expect(mismatch(plane, opencv) == nil, "channel \(channel)")
        }
    }

    @Test func edgeMapIsBlackOrWhiteInAllChannels() throws {
        let fixture = try CannyFixture()
        let map = CannyEdgeDetector().edgeMap(of: try fixture.image("shapes"))
        let pixels = (0..<(map.width * map.height)).map { Array(map.pixels[(3 * $0)..<(3 * $0 + 3)]) }
        let neither = pixels.indices.filter { pixels[$0] != [0, 0, 0] && pixels[$0] != [255, 255, 255] }
        #expect(neither.isEmpty, "\(neither.count) pixels neither black nor white, first \(neither.first.map { pixels[$0] } ?? [])")
        let white = pixels.filter { $0 == [255, 255, 255] }.count
        #expect(white > 0 && white < pixels.count / 2, "\(white) of \(pixels.count) white")
    }

    @Test func flatPictureHasNoEdges() {
        let flat = RGBImage(width: 33, height: 17, pixels: [UInt8](repeating: 77, count: 33 * 17 * 3))
        for thresholds: CannyEdgeDetector.Thresholds in [.relative(low: 0.08, high: 0.08), .relative(low: 0, high: 0), .absolute(low: 0, high: 0)] {
            #expect(CannyEdgeDetector(thresholds: thresholds).edgeMap(of: flat).pixels.allSatisfy { $0 == 0 }, "\(thresholds)")
        }
    }

    /// As cv2.Canny with L2gradient: ordered, capped at 32767, squared when positive, floored.
    @Test func thresholdsResolveAsOpenCVs() {
        func squared(_ thresholds: CannyEdgeDetector.Thresholds, max: Int = 10_000) -> [Int] {
            let t = CannyEdgeDetector(thresholds: thresholds).squaredThresholds(maxSquaredMagnitude: max)
            return [t.low, t.high]
        }
        #expect(squared(.absolute(low: 200.5, high: 100)) == [10_000, 40_200])
        #expect(squared(.absolute(low: -5, high: 40_000)) == [-5, 32_767 * 32_767])
        #expect(squared(.absolute(low: -1e300, high: 1e300)) == [-32_767, 32_767 * 32_767])
        #expect(squared(.relative(low: 0.1, high: 0.25)) == [100, 625])  // largest magnitude 100
        #expect(squared(.relative(low: 0.08, high: 0.08), max: 0) == [0, 0])
    }

    /// Whether a threshold is met is decided as OpenCV decides it: strictly above. A step from 0
    /// to 50 has squared magnitude 200^2 on the pixel before it (the pixel after it ties and loses);
    /// a step to 25, 100^2. Expected maps as cv2.Canny(image, low, high, L2gradient=True) gives.
    @Test func thresholdsAreStrictBoundsAsOpenCVs() {
        var pixels = [UInt8](repeating: 0, count: 12 * 12)
        for y in 0..<12 { for x in 6..<12 { pixels[y * 12 + x] = y < 6 ? 50 : 25 } }
        let steps = GreyImage(width: 12, height: 12, pixels: pixels)
        func rows(low: Double, high: Double) -> [String] {
            let edges = CannyEdgeDetector(thresholds: .absolute(low: low, high: high)).edges(ofGrey: steps)
            return (0..<12).map { y in String(edges.pixels[(y * 12)..<(y * 12 + 12)].map { $0 == 255 ? "1" : "0" }) }
        }
        let upperOnly = Array(repeating: "000001000000", count: 5) + ["000000100000", "000000100000"] + Array(repeating: "000000000000", count: 5)
        let both = Array(repeating: "000001000000", count: 5) + ["000000111111", "000000100000"] + Array(repeating: "000001000000", count: 5)
        #expect(rows(low: 10, high: 200) == Array(repeating: "000000000000", count: 12))
        #expect(rows(low: 10, high: 199.999) == both)
        #expect(rows(low: 100, high: 150) == upperOnly)
        #expect(rows(low: 99.999, high: 150) == both)
    }

    /// nil when equal, else how many pixels differ and the first of them.
    private func mismatch(_ ours: GreyImage, _ opencv: GreyImage) -> String? {
        guard ours.width == opencv.width && ours.height == opencv.height else {
            return "size \(ours.width)x\(ours.height), OpenCV \(opencv.width)x\(opencv.height)"
        }
        let differing = ours.pixels.indices.filter { ours.pixels[$0] != opencv.pixels[$0] }
        guard let first = differing.first else { return nil }
        return "\(differing.count) of \(ours.pixels.count) pixels differ, first at x \(first % ours.width), y \(first / ours.width): "
            + "\(ours.pixels[first]), OpenCV \(opencv.pixels[first])"
    }
}

/// canny_cases.safetensors: `<case>.rgb` [H, W, 3] and `<case>.<stage>` [H, W], all uint8.
private struct CannyFixture {
    let file: SafetensorsFile

    init() throws { file = try SafetensorsFile(path: fixturePath("canny_cases.safetensors")) }

    var metadata: [String: String] { file.metadata }

    /// The fractions the generator resolved its relative thresholds with.
    func relative() throws -> CannyEdgeDetector.Thresholds {
        .relative(low: try number("relative_low"), high: try number("relative_high"))
    }

    func absolute() throws -> CannyEdgeDetector.Thresholds {
        .absolute(low: try number("absolute_low"), high: try number("absolute_high"))
    }

    private func number(_ key: String) throws -> Double {
        try #require(metadata[key].flatMap { Double($0) }, "metadata \(key)")
    }

    func image(_ name: String) throws -> RGBImage {
        let t = try bytes("\(name).rgb")
        try #require(t.shape.count == 3 && t.shape[2] == 3)
        return RGBImage(width: t.shape[1], height: t.shape[0], pixels: t.bytes)
    }

    func plane(_ name: String, _ stage: String) throws -> GreyImage {
        let t = try bytes("\(name).\(stage)")
        try #require(t.shape.count == 2)
        return GreyImage(width: t.shape[1], height: t.shape[0], pixels: t.bytes)
    }

    private func bytes(_ key: String) throws -> (shape: [Int], bytes: [UInt8]) {
        let t = try file.tensor(key)
        try #require(t.dtype == .u8, "\(key) is \(t.dtype)")
        return (t.shape, Array(t.bytes))
    }
}
