import Tensor

/// Turns LoRA files, each with its multiplier, into one request's `LayerAdapters` for a model:
/// every module resolved onto a layer (strict: one that matches none is an error naming it) and
/// checked against the layer's shape.
public enum LoRAAdapters {
    /// - Parameter loras: the files and their multipliers (A1111's `<lora:name:weight>`).
    /// - Throws: `LoRAError` naming the file and module.
    public static func make(_ loras: [(file: LoRAFile, multiplier: Float)], for index: WeightIndex) throws -> LayerAdapters {
        let resolver = LoRAKeyResolver(index: index)
        var deltas: [String: [LayerDelta]] = [:]
        for (file, multiplier) in loras {
            for module in file.modules {
                guard let target = resolver.target(of: module.name) else {
                    throw LoRAError.noSuchLayer(file: file.path, module: module.name)
                }
                guard let layerShape = index.tensors[target.key + ".weight"]?.shape else {
                    throw LoRAError.noSuchLayer(file: file.path, module: module.name)
                }
                let delta = try makeDelta(module, file: file.path, layerShape: layerShape, target: target, multiplier: multiplier)
                deltas[target.key, default: []].append(delta)
            }
        }
        return LayerAdapters(deltas: deltas)
    }

    /// One module's delta, its tensors shaped as the layer's weight (4-D for a convolution or a
    /// 1x1-conv-stored projection, 2-D for a Linear).
    static func makeDelta(
        _ module: LoRAFile.Module, file: String, layerShape: [Int], target: LoRAKeyResolver.Target, multiplier: Float
    ) throws -> LayerDelta {
        let parts = module.parts
        func fail(_ reason: String) -> LoRAError { .shapeMismatch(file: file, module: module.name, reason: reason) }
        // The output rows the delta writes (a third of a fused in_proj) and the layer's inputs.
        let outRows = target.outputRows ?? layerShape[0]
        let inFeatures = layerShape[1]
        let kernel = layerShape.count == 4 ? Array(layerShape[2...]) : []
        let alpha = parts["alpha"].map { $0.scalars.first ?? 0 }

        if let down = parts["down"], let up = parts["up"] {
            let rank = down.rank >= 2 ? down.shape[0] : 0
            guard rank >= 1, up.rank >= 2, up.shape[0] == outRows, up.count == outRows * rank else {
                throw fail("lora_up \(up.shape) does not give the layer's \(outRows) outputs from rank \(rank)")
            }
            // A Linear takes [r, in] (or the same as a 1x1 conv); a convolution takes its own
            // kernel (LoCon) or, when it is 1x1, a Linear's [r, in].
            let downKernel = down.rank == 4 ? Array(down.shape[2...]) : [1, 1]
            guard down.rank == 2 || down.rank == 4, down.shape[1] == inFeatures,
                kernel.isEmpty ? downKernel == [1, 1] : downKernel == kernel
            else { throw fail("lora_down \(down.shape) does not read the layer's weight \(layerShape)") }
            let scale = multiplier * (alpha ?? Float(rank)) / Float(rank)
            let downShape = kernel.isEmpty ? [rank, inFeatures] : [rank, inFeatures] + kernel
            let upShape = kernel.isEmpty ? [outRows, rank] : [outRows, rank, 1, 1]
            return LayerDelta(
                .lowRank(down: WeightMatrix(down.reshaped(downShape)), up: WeightMatrix(up.reshaped(upShape))), scale: scale,
                outputOffset: target.outputOffset)
        }
        if parts["down"] != nil || parts["up"] != nil {
            throw LoRAError.incomplete(file: file, module: module.name, reason: "needs both lora_down (lora_A) and lora_up (lora_B)")
        }

        let deltaShape = [outRows] + Array(layerShape.dropFirst())
        let layerCount = deltaShape.reduce(1, *)
        if let w1a = parts["hada_w1_a"], let w1b = parts["hada_w1_b"], let w2a = parts["hada_w2_a"], let w2b = parts["hada_w2_b"] {
            // LoHa: ΔW = (w1_a w1_b) ⊙ (w2_a w2_b), scale alpha / rank.
            for (x, y) in [(w1a, w1b), (w2a, w2b)] where x.rank < 2 || y.rank < 2 || x.count / x.shape[0] != y.shape[0] {
                throw fail("the Hadamard factors \(x.shape) and \(y.shape) do not multiply")
            }
            let w1 = matmul(w1a.flattenedColumns(), w1b.flattenedColumns()), w2 = matmul(w2a.flattenedColumns(), w2b.flattenedColumns())
            guard w1.count == layerCount, w2.count == layerCount else {
                throw fail("the Hadamard factors give \(w1.shape) and \(w2.shape), not the layer's weight \(layerShape)")
            }
            let rank = w1b.shape[0]
            guard rank >= 1 else { throw fail("hada_w1_b has rank 0") }
            return LayerDelta(
                .dense(WeightMatrix((w1 * w2).reshaped(deltaShape))), scale: multiplier * (alpha ?? Float(rank)) / Float(rank),
                outputOffset: target.outputOffset)
        }
        if parts.keys.contains(where: { $0.hasPrefix("hada_") }) {
            throw LoRAError.incomplete(file: file, module: module.name, reason: "a LoHa module needs hada_w1_a, hada_w1_b, hada_w2_a and hada_w2_b")
        }

        if parts.keys.contains(where: { $0.hasPrefix("lokr_") }) {
            // LoKr: ΔW = w1 ⊗ w2, each whole or a low-rank product; scale alpha / rank when one is.
            func factor(_ name: String) throws -> (Tensor, rank: Int?) {
                if let whole = parts[name] { return (whole, nil) }
                guard let a = parts[name + "_a"], let b = parts[name + "_b"] else {
                    throw LoRAError.incomplete(file: file, module: module.name, reason: "a LoKr module needs \(name) or \(name)_a and \(name)_b")
                }
                guard a.rank >= 2, b.rank >= 2, a.count / a.shape[0] == b.shape[0] else {
                    throw fail("the Kronecker factor's parts \(a.shape) and \(b.shape) do not multiply")
                }
                return (matmul(a.flattenedColumns(), b.flattenedColumns()).reshaped([a.shape[0]] + Array(b.shape.dropFirst())), b.shape[0])
            }
            let (w1, rank1) = try factor("lokr_w1"), (w2, rank2) = try factor("lokr_w2")
            let product = kronecker(w1, w2)  // [o1·o2, i1·i2(, k, k)]
            guard product.count == layerCount, product.shape[0] == outRows else {
                throw fail("the Kronecker factors \(w1.shape) ⊗ \(w2.shape) do not make the layer's weight \(layerShape)")
            }
            let rank = rank2 ?? rank1
            let scale = multiplier * (rank.map { (alpha ?? Float($0)) / Float($0) } ?? 1)
            return LayerDelta(.dense(WeightMatrix(product.reshaped(deltaShape))), scale: scale, outputOffset: target.outputOffset)
        }
        throw LoRAError.incomplete(file: file, module: module.name, reason: "holds \(parts.keys.sorted()) but no adapter's weights")
    }

    /// a ⊗ b over the first two dimensions: [o1, i1] ⊗ [o2, i2(, k...)] -> [o1·o2, i1·i2(, k...)]
    /// (LyCORIS `torch.kron` with w1 broadcast over w2's kernel dimensions).
    static func kronecker(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (o1, i1) = (a.shape[0], a.count / a.shape[0])
        let (o2, i2) = (b.shape[0], b.rank > 1 ? b.shape[1] : 1)
        let inner = b.count / max(o2 * i2, 1)  // kernel positions
        var out = [Float](repeating: 0, count: o1 * o2 * i1 * i2 * inner)
        let av = a.scalars, bv = b.scalars
        for p in 0..<o1 {
            for q in 0..<i1 {
                let s = av[p * i1 + q]
                if s == 0 { continue }
                for r in 0..<o2 {
                    for c in 0..<i2 {
                        let row = p * o2 + r, column = q * i2 + c
                        let dst = (row * i1 * i2 + column) * inner, src = (r * i2 + c) * inner
                        for k in 0..<inner { out[dst + k] = s * bv[src + k] }
                    }
                }
            }
        }
        return Tensor(shape: [o1 * o2, i1 * i2] + Array(b.shape.dropFirst(2)), values: out)
    }
}

extension Tensor {
    /// [n, ...] -> [n, rest] (a conv factor as a matrix).
    fileprivate func flattenedColumns() -> Tensor { reshaped([shape[0], count / Swift.max(shape[0], 1)]) }
}
