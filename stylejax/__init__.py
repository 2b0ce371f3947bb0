"""stylejax: neural style transfer (Gatys et al. 2016) in JAX/Flax.

The names below are the library's promise; everything in the subpackages (`model`,
`objective`, `optim`, `engine`, `files`, `cli`, `studio`) is internal and may change. They are
imported on first use, so `import stylejax` is quick and a command line can answer Ctrl-C
while JAX loads.
"""

import importlib

# Public name -> the module that defines it.
_EXPORTS = {
    "Stylizer": "stylejax.api",
    "stylize": "stylejax.api",
    "check_options": "stylejax.api",
    "Update": "stylejax.optim.loop",
    "Config": "stylejax.config",
    "ConfigError": "stylejax.config",
    "features": "stylejax.model.features",
    "extract": "stylejax.model.features",
    "load_weights": "stylejax.model.load",
    "LAYERS": "stylejax.model.vgg",
    "VGG19": "stylejax.model.vgg",
    "Weights": "stylejax.model.weights",
    "WeightsError": "stylejax.model.weights",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.2.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'stylejax' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
