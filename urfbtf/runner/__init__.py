"""The experiment runner: a run of the paper's experiments from its settings.

`run(config, model_dir)` trains one run and leaves its directory (settings,
records, checkpoints, the final model); `python -m urfbtf` and the `urfbtf`
command (`urfbtf.runner.main`) make the `Config` from flags and call it. The
library (layers, rules, nets, `convert`, probes, callbacks, data) never imports
this package.

Modules, in the order a run meets them:

* `main`: the command line; `flags`: the absl flags of the declared settings;
  `help`: `--help`, the run's flags by group; `experiments`: `--experiment`,
  the papers' flagfiles by name; `announce`: a run's first line;
  `interrupt`: Ctrl-C, one line and exit status 130.
* `config`: `Config`, the settings of a run (`config_stub` writes its typed
  stub); `run_settings`: the runner's own; `validation`: their checks.
* `train`: `run`, one run; `trials`: several seeds of it, scored together.
* `build`: the run's model and optimizer; `untying`: the tied-then-untied
  schedule of Amit (2019), section 4.1; `distribute`: the `tf.distribute`
  strategies; `own_loop`: `fit` under MultiWorkerMirroredStrategy.
* `recorder`: what a run records after every epoch (`evaluation` measures it,
  `tensorboard` writes its scalars; the format is `urfbtf.records`'),
  `divergence`: what happens when it diverges (`watch` finds the step),
  `checkpoint`: its state on disk, `run_dir`: its directory and config.json,
  `lock`: one run at a time in a directory.
"""

from urfbtf.runner.train import run

__all__ = ["run"]
