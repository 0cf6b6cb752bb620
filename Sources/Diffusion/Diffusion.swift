import Samplers
import Tensor
