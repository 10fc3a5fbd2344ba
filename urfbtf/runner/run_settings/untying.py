"""The settings of untied layers and of the tied-then-untied schedule of Amit
(2019), section 4.1 (`urfbtf.runner.untying`)."""

from __future__ import annotations

from urfbtf.backward import untied
from urfbtf.runner.run_settings.conditions import positive, unless
from urfbtf.settings import Setting

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "untie",
        str,
        "",
        "Conv layers to build untied (locally connected), comma separated, or 'all'.",
    ),
    Setting(
        "untied_impl",
        str,
        "dense",
        "Untied layers: dense (per-location kernels, compiles with XLA) or sparse "
        "(tf.sparse, as the original code).",
        validator=untied.check_layout,
        applies=unless(
            lambda c: not c.untie,
            lambda c: "no layer is untied (--untie)",
        ),
    ),
    Setting(
        "untie_after",
        int,
        0,
        "Train the tied net for this many epochs, then untie (0: untied from the "
        "start).",
        check=lambda n: n >= 0,
        valid="0 (untied from the start) or the number of tied epochs first",
    ),
    Setting(
        "freeze",
        str,
        "",
        "Layers that stop learning when the net is untied (--untie_after).",
    ),
    Setting(
        "redraw",
        str,
        "",
        "Layers redrawn at random when the net is untied (--untie_after); untied "
        "layers not listed start from their trained kernel.",
    ),
    Setting(
        "untied_batch_size",
        int,
        None,
        "Batch size after --untie_after (default --batch_size).",
        optional=True,
        check=positive,
        valid="a positive integer, or unset",
        applies=unless(
            lambda c: not c.untie_after,
            lambda c: "it is the batch size after --untie_after, which is 0",
        ),
    ),
)
