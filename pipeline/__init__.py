"""Train MNIST models with Keras, export them to every runtime, prove each export agrees."""

__version__ = "0.1.0"
