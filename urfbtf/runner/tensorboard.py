"""A run's TensorBoard events: the scalars of its records, in model_dir/tensorboard.

TensorBoard's writer fails with TensorFlow's errors, not OSError; `ScalarWriter`
words them as the run's other files' failures are (a full disk, a path that is
a file): a `RunFilesError` that says the run resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import tensorflow as tf

from urfbtf.errors import RunFilesError


class ScalarWriter:
    """Writes scalars to the TensorBoard events of the run in `model_dir`."""

    def __init__(self, model_dir):
        self.model_dir = Path(model_dir)
        with self._errors():
            self._writer = tf.summary.create_file_writer(
                str(self.model_dir / "tensorboard")
            )

    def write(self, scalars: dict, step: int, flush: bool = False) -> None:
        """Writes {name: value} at `step`, in order; `flush` makes them reach
        the disk now."""
        with self._errors():
            with self._writer.as_default(step=step):
                for name, value in scalars.items():
                    tf.summary.scalar(name, value)
            if flush:
                self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    @contextlib.contextmanager
    def _errors(self):
        try:
            yield
        except tf.errors.OpError as error:
            raise RunFilesError(
                "Could not write the TensorBoard events in "
                f"{self.model_dir / 'tensorboard'}: {error.message}. Free some space "
                "there or fix that path, and run the same command again: the run "
                "resumes from its last checkpoint."
            ) from None
