"""stylejax: neural style transfer (Gatys et al. 2016) in JAX/Flax."""

from stylejax.api import Stylizer, Update, check_options, stylize
from stylejax.config import Config, ConfigError
from stylejax.features import extract, features, load_weights
from stylejax.vgg import LAYERS, VGG19
from stylejax.weights import Weights, WeightsError

__all__ = [
    "LAYERS",
    "VGG19",
    "Config",
    "ConfigError",
    "Stylizer",
    "Update",
    "Weights",
    "WeightsError",
    "check_options",
    "extract",
    "features",
    "load_weights",
    "stylize",
]
__version__ = "0.2.0"
