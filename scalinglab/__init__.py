"""scalinglab: measure, fit and plan neural scaling laws."""

from scalinglab.errors import InputError

__version__ = "0.1.0"
__all__ = ["InputError", "__version__"]
