import Tensor

/// Runs an image-to-image network over overlapping tiles and blends the tiles' outputs with
/// smootherstep weights (engine reference 6, "Tiling"; stable-diffusion.cpp `--vae-tiling`).
///
/// Tiles are laid out on a grid of latent cells, so tile borders fall on whole latent cells for both
/// the decoder (input 1 px per cell, output f) and the encoder (input f, output 1). Along each axis,
/// a size that fits one tile gets one tile (the network then runs on the whole input, so the result is
/// exactly the untiled one); otherwise tiles are spread evenly, the first at 0 and the last ending at
/// the border, as few as keep the overlap at or below the target. In an overlap of length L between
/// tiles i and i+1, output position p gets weight S(u) from tile i+1 and S(1-u) from tile i with
/// u = (p - start + 0.5) / L and S(u) = u³(6u² - 15u + 10), so the weights sum to 1 and both the
/// weight and its first two derivatives are continuous across the seam. The 2-D weight is the product
/// of the two axes' weights; the blend is divided by the summed weights so rounding (or a short last
/// step) never leaves a seam of wrong brightness.
enum TiledProcessing {
    /// Tile spans along one axis, in grid cells.
    static func spans(size: Int, tile: Int, overlap: Float) -> [Range<Int>] {
        precondition(size >= 1 && tile >= 1, "tiling: size \(size), tile \(tile)")
        precondition(overlap >= 0 && overlap <= 0.5, "tiling: overlap \(overlap) outside [0, 0.5]")
        if size <= tile { return [0..<size] }
        let travel = Double(size - tile)
        // Enough tiles to cover the axis, and no more than keep each step >= tile·(1 - overlap): with
        // overlap <= 0.5 a position is then covered by at most two tiles.
        let covering = Int((travel / Double(tile)).rounded(.up))
        let spaced = Int((travel / (Double(tile) * Double(1 - overlap))).rounded(.down))
        let steps = max(covering, spaced, 1)
        return (0...steps).map { i in
            let start = Int((Double(i) * travel / Double(steps)).rounded())
            return start..<(start + tile)
        }
    }

    /// smootherstep S(u) = u³(6u² − 15u + 10); S(u) + S(1 − u) = 1.
    static func smootherstep(_ u: Float) -> Float {
        let t = min(max(u, 0), 1)
        return t * t * t * (t * (t * 6 - 15) + 10)
    }

    /// Blend weights of tile `i` along one axis, for each of its output positions.
    static func axisWeights(_ spans: [Range<Int>], _ i: Int, scale: Int) -> [Float] {
        let start = spans[i].lowerBound * scale, end = spans[i].upperBound * scale
        return (start..<end).map { p in
            var w: Float = 1
            if i > 0 {
                let previousEnd = spans[i - 1].upperBound * scale
                if p < previousEnd { w *= smootherstep((Float(p - start) + 0.5) / Float(previousEnd - start)) }
            }
            if i + 1 < spans.count {
                let nextStart = spans[i + 1].lowerBound * scale
                if p >= nextStart { w *= smootherstep((Float(end - p) - 0.5) / Float(end - nextStart)) }
            }
            return w
        }
    }

    /// Applies `network` tile by tile to `x` [B, C, H, W] and blends the results.
    ///
    /// - Parameters:
    ///   - tile: tile side in grid cells (latent cells).
    ///   - inputScale, outputScale: pixels per grid cell in `x` and in the network's output.
    static func run(
        _ x: Tensor, tile: Int, overlap: Float, inputScale: Int, outputScale: Int, _ network: (Tensor) -> Tensor
    ) -> Tensor {
        precondition(
            x.rank == 4 && x.shape[2] % inputScale == 0 && x.shape[3] % inputScale == 0,
            "tiling: input \(x.shape) is not [B, C, H, W] with H and W multiples of \(inputScale)")
        let (gridH, gridW) = (x.shape[2] / inputScale, x.shape[3] / inputScale)
        let rows = spans(size: gridH, tile: tile, overlap: overlap)
        let columns = spans(size: gridW, tile: tile, overlap: overlap)
        if rows.count == 1 && columns.count == 1 { return network(x) }

        let (outH, outW) = (gridH * outputScale, gridW * outputScale)
        var accumulated: Tensor?
        var weightSum = [Float](repeating: 0, count: outH * outW)
        for (ty, rowSpan) in rows.enumerated() {
            let band = x.narrowed(axis: 2, start: rowSpan.lowerBound * inputScale, length: rowSpan.count * inputScale)
            let wy = axisWeights(rows, ty, scale: outputScale)
            for (tx, columnSpan) in columns.enumerated() {
                let input = band.narrowed(axis: 3, start: columnSpan.lowerBound * inputScale, length: columnSpan.count * inputScale)
                let output = network(input)
                let (tileH, tileW) = (rowSpan.count * outputScale, columnSpan.count * outputScale)
                precondition(
                    output.rank == 4 && output.shape[0] == x.shape[0] && output.shape[2] == tileH && output.shape[3] == tileW,
                    "tiling: tile \(input.shape) gave \(output.shape), expected [\(x.shape[0]), C, \(tileH), \(tileW)]")
                let channels = output.shape[1]
                var sum = accumulated ?? Tensor.zeros([x.shape[0], channels, outH, outW])
                let wx = axisWeights(columns, tx, scale: outputScale)
                let (y0, x0) = (rowSpan.lowerBound * outputScale, columnSpan.lowerBound * outputScale)
                sum.withUnsafeMutableBufferPointer { s in
                    output.withUnsafeBufferPointer { o in
                        for plane in 0..<(x.shape[0] * channels) {
                            for y in 0..<tileH {
                                let sRow = plane * outH * outW + (y0 + y) * outW + x0, oRow = (plane * tileH + y) * tileW
                                for xi in 0..<tileW { s[sRow + xi] += wy[y] * wx[xi] * o[oRow + xi] }
                            }
                        }
                    }
                }
                for y in 0..<tileH {
                    for xi in 0..<tileW { weightSum[(y0 + y) * outW + x0 + xi] += wy[y] * wx[xi] }
                }
                accumulated = sum
            }
        }
        guard var result = accumulated else { preconditionFailure("tiling: no tiles for \(x.shape)") }
        let planeSize = outH * outW
        result.withUnsafeMutableBufferPointer { r in
            for i in r.indices { r[i] /= weightSum[i % planeSize] }
        }
        return result
    }
}

extension VAEDecoder {
    /// `callAsFunction` over tiles of `tileSize` latent cells that overlap by about `overlap` of a tile,
    /// blended with smootherstep weights (see `TiledProcessing`): bounded memory for large images. A
    /// latent that fits one tile gives exactly the untiled result.
    public func decodeTiled(_ latent: Tensor, tileSize: Int = 32, overlap: Float = 0.5) -> Tensor {
        TiledProcessing.run(latent, tile: tileSize, overlap: overlap, inputScale: 1, outputScale: upsamplingFactor) { self($0) }
    }
}

extension VAEEncoder {
    /// `encode` over tiles of `tileSize` latent cells (`tileSize`·f pixels), blending the moments with
    /// smootherstep weights. The default tile is twice the decoder's, since the encoder's GroupNorms
    /// see less of the image in a tile and react more to the cut. H and W must be multiples of f.
    public func encodeTiled(_ image: Tensor, tileSize: Int = 64, overlap: Float = 0.5) -> (mean: Tensor, logVariance: Tensor) {
        let moments = TiledProcessing.run(
            image, tile: tileSize, overlap: overlap, inputScale: downsamplingFactor, outputScale: 1) { self($0) }
        return VAEEncoder.posterior(moments: moments)
    }
}

extension AutoencoderKL {
    /// `decode` over blended tiles; see `VAEDecoder.decodeTiled`.
    public func decodeTiled(_ latent: Tensor, tileSize: Int = 32, overlap: Float = 0.5) -> Tensor {
        decoder.decodeTiled(latent, tileSize: tileSize, overlap: overlap)
    }

    /// `encode` over blended tiles; see `VAEEncoder.encodeTiled`.
    public func encodeTiled(_ image: Tensor, tileSize: Int = 64, overlap: Float = 0.5) -> (mean: Tensor, logVariance: Tensor) {
        encoder.encodeTiled(image, tileSize: tileSize, overlap: overlap)
    }
}
