import Testing
@testable import Samplers
