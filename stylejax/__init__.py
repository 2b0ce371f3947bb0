"""stylejax: neural style transfer (Gatys et al. 2016) in JAX/Flax."""

from stylejax.features import extract, features, load_weights
from stylejax.vgg import LAYERS, VGG19
from stylejax.weights import Weights, WeightsError

__all__ = ["LAYERS", "VGG19", "Weights", "WeightsError", "extract", "features", "load_weights"]
__version__ = "0.1.0"
