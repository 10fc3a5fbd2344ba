"""The settings of where and how the steps run: devices, determinism, XLA.

None changes the experiment, so each may change when a stopped run resumes.
"""

from __future__ import annotations

from urfbtf.runner import distribute
from urfbtf.runner.run_settings.conditions import POSITIVE, unless
from urfbtf.settings import Setting

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "deterministic",
        bool,
        True,
        "Deterministic TensorFlow ops: bitwise reproducible runs and resumes.",
        resumable=True,
    ),
    Setting(
        "strategy",
        str,
        "default",
        "Where to run: default (one device), mirrored (the GPUs of this machine), "
        "multi_worker (several machines, described by TF_CONFIG), tpu.",
        validator=distribute.check_name,
        resumable=True,
    ),
    Setting(
        "tpu",
        str,
        "",
        "For --strategy=tpu: TPU name or grpc:// address ('' finds the local or "
        "Colab TPU).",
        resumable=True,
        applies=unless(
            lambda c: c.strategy != "tpu",
            lambda c: (
                f"it names the TPU of --strategy=tpu, and strategy={c.strategy!r}"
            ),
        ),
    ),
    Setting(
        "jit_compile",
        bool,
        False,
        "Compile the training and evaluation steps with XLA.",
        resumable=True,
    ),
    Setting(
        "steps_per_execution",
        int,
        1,
        "Training steps per call into the compiled step.",
        resumable=True,
        **POSITIVE,
    ),
)
