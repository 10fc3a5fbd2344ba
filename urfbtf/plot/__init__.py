"""Figures of runs: learning curves, W-R correlation, alignment angles, filters.

    python -m urfbtf.plot curves RUN_DIR [RUN_DIR ...] [--out FILE.png]
    python -m urfbtf.plot {wr,alignment,filters} RUN_DIR ... [--out FILE.png]

Each function takes a run directory (or, but `filters`, a list of them) and
returns a matplotlib Figure, drawn without pyplot (`urfbtf.plot.save(figure,
path)` writes it):

* `curves(runs, wr=False)`: train, validation and final test error against
  epochs (Amit 2019, Figs. 4 and 7), with `wr=True` the W-R panel beside it;
* `wr(runs)`: each layer's correlation of W and R (Figs. 10-11);
* `alignment(runs, smooth=0)`: the probes' angles to backprop against steps
  (Frenkel et al. 2021, Figs. 2C-D, 3C-D), from probes.jsonl;
* `filters(run_dir)`: an untied layer's filters at four locations (Amit 2019,
  Fig. 8), from model.keras.

matplotlib is an optional extra (`pip install "urfbtf[plot]"`); without it the
functions raise `PlotDependencyError`, which says so. The runs' table is
`urfbtf.runs`.
"""

from urfbtf.plot.alignment import alignment
from urfbtf.plot.curves import curves, wr
from urfbtf.plot.figure import PlotDependencyError, save
from urfbtf.plot.filters import filters

__all__ = ["PlotDependencyError", "alignment", "curves", "filters", "save", "wr"]
