"""tinygen: small neural networks to microcontrollers, verified bit for bit."""

__version__ = "0.1.0"
