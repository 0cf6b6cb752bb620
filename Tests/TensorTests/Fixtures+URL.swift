import Foundation

/// URL of a committed fixture (Tests/TensorTests/Fixtures/<name>).
func fixtureURL(_ name: String) -> URL {
    guard let base = Bundle.module.resourceURL else { fatalError("test bundle has no resources") }
    return base.appendingPathComponent("Fixtures").appendingPathComponent(name)
}
