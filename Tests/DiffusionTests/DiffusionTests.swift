import Tensor
import TestSupport
import Testing

@testable import Diffusion

@Suite struct WeightsTests {
    func index() -> WeightIndex {
        var tensors: [String: StoredTensor] = [:]
        let file = MappedFile(name: "mem", data: [UInt8](repeating: 0, count: 64))
        for (name, shape) in [("a.b.weight", [2, 3]), ("a.b.bias", [2]), ("a.c.weight", [2]), ("d", [1])] {
            tensors[name] = StoredTensor(name: name, dtype: .f32, shape: shape, bytes: UnsafeRawBufferPointer(rebasing: file.bytes[0..<(shape.reduce(1, *) * 4)]), file: file)
        }
        return WeightIndex(source: "mem", tensors: tensors)
    }

    @Test func scopedReadsAreCheckedAndRecorded() throws {
        let index = index()
        let w = index.weights("a")
        #expect(w["b"].contains("weight") && w.contains("b") && !w.contains("x"))
        #expect(w["b"].shape(of: "weight") == [2, 3])
        #expect(throws: WeightError.missingTensor(file: "mem", tensor: "a.x.weight")) { try w["x"].tensor("weight") }
        #expect(throws: WeightError.shapeMismatch(file: "mem", tensor: "a.b.weight", expected: [3, 2], actual: [2, 3])) {
            try w["b"].tensor("weight", shape: [3, 2])
        }
        let linear = try Linear(w["b"])
        #expect(linear.inFeatures == 3 && linear.outFeatures == 2 && linear.bias != nil)
        #expect(throws: WeightError.unusedTensors(file: "mem", tensors: ["a.c.weight"])) { try index.checkAllConsumed(under: "a.") }
        #expect(index.unconsumed(ignoring: ["a.c."]) == ["d"])
    }
}
