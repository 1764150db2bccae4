"""The trainer's error type, in its own module so that every part of ``train`` can raise it
(checkpoint files have their own, ``checkpoint.CheckpointError``)."""


class TrainingError(RuntimeError):
    """A run that cannot start or had to stop; the message says why."""
