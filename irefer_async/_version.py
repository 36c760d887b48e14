"""The distribution's version, read by the build backend and by ``irefer_async.__version__``."""

__version__ = "0.1.0"
