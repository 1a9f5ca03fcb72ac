"""r1lab: recipes for training reasoning models the DeepSeek-R1 way, as thin layers over TRL."""

__version__ = "0.1.0"
