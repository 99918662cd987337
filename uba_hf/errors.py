"""The package's two error types: a user mistake, and a checkpoint that could not be written.

A :class:`UBAConfigError` is a configuration or data mistake the user can fix (a bad argument, a
budget that does not match the checkpoint, a corpus too small to split). It subclasses
``ValueError``, so ``except ValueError`` keeps working, and the command-line entry points catch it
alone and print one line (exit code 2). Anything else is a bug or an environment failure and keeps
its traceback, except :class:`CheckpointWriteError`: a checkpoint that could not be written (disk full,
read-only storage), which they also print as one line (exit code 1).
"""

from __future__ import annotations

__all__ = ["CheckpointWriteError", "UBAConfigError"]


class UBAConfigError(ValueError):
    """A configuration or data mistake, reported as one line that names the argument and the fix.

    A ``ValueError``, so ``except ValueError`` catches it too. The command-line entry points (``uba-run``,
    ``uba-pretrain``) print it as one line and exit with code 2; anything else keeps its traceback.

    Example:

    >>> from uba_hf import zero_config_schedule
    >>> try:
    ...     zero_config_schedule(0, 1_000_000)
    ... except UBAConfigError as err:
    ...     print(err)
    `num_training_steps` must be an integer >= 1 for the zero-config schedule; got 0.
    """


class CheckpointWriteError(OSError):
    """A ``checkpoint-N`` whose write failed half way (disk full, storage turned read-only), as one line.

    The line names the folder, the cause and the newest complete checkpoint. The folder is left without its
    completion marker, so ``--resume_from_checkpoint latest`` skips it and resumes the previous one. The
    original exception is its ``__cause__``; ``checkpoint_dir`` is the folder.

    Raised by ``UBATrainer.train``; the command-line entry points print it as one line and exit with code 1.
    """

    def __init__(self, message: str, checkpoint_dir: str) -> None:
        super().__init__(message)
        self.checkpoint_dir = checkpoint_dir

    def __str__(self) -> str:
        return str(self.args[0])
