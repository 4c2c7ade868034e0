"""The engine's one exception type."""


class SynthError(ValueError):
    """Bad input to the engine: the message says what is wrong and what to do about it."""
