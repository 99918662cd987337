"""The one user-error type of the package.

A :class:`UBAConfigError` is a configuration or data mistake the user can fix (a bad argument, a
budget that does not match the checkpoint, a corpus too small to split). It subclasses
``ValueError``, so ``except ValueError`` keeps working, and the command-line entry points catch it
alone and print one line (exit code 2). Anything else is a bug or an environment failure and keeps
its traceback.
"""

from __future__ import annotations

__all__ = ["UBAConfigError"]


class UBAConfigError(ValueError):
    """A configuration or data mistake, reported as one line that names the argument and the fix.

    A ``ValueError``, so ``except ValueError`` catches it too. The command-line entry points (``uba-run``,
    ``uba-pretrain``) print it as one line and exit with code 2; anything else keeps its traceback.

    Example:

    >>> from uba_hf import suggest_schedule
    >>> try:
    ...     suggest_schedule(0)
    ... except UBAConfigError as err:
    ...     print(err)
    `tokens_per_param` must be a finite number > 0; got 0.
    """
