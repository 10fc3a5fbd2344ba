"""Image-classification data: loading whole splits into memory and batching them.

Four kinds of source, chosen by `load_splits` from the dataset name:

* a tensorflow-datasets name (cifar10, mnist, ...), downloaded by tfds as usual;
* a local directory (`data_dir`) of TFRecords named
  `<dataset>-<split>.tfrecord-*` with the features `image/encoded` (JPEG or PNG
  bytes), `image/format` and `image/class/label` (int64, 0-based), plus an optional
  `classes.json`;
* `cifar10_sample`, 1000 training and 500 test CIFAR-10 images that ship inside the
  package in the same TFRecord schema, so everything runs offline;
* `synthetic_classification` and `synthetic_regression`, the 256-feature tasks of
  Frenkel et al. (2021), generated in memory by `urfbtf.synthetic` (features, not
  pixels; the regression's labels are float vectors of 10 targets).

Images stay uint8 in memory; the tf.data pipelines scale them to float32 in [0, 1].
The validation split is carved out of the training split with a fixed seed
(`VAL_SPLIT_SEED`), so it is the same for every run, whatever the run's seed. The
training pipeline shuffles each epoch with a stateless op keyed by (seed, epoch), so a
run resumed at epoch k sees exactly the batches an uninterrupted run would have.

The modules, one concern each (everything public is importable from here):

* `splits`: `Splits`, `load_splits` (dispatch to the sources, the validation
  split), `default_val_examples`, the synthetic tasks' names;
* `tfds_source`: tensorflow-datasets, and failing fast without network;
* `tfrecords`: local TFRecords and the shipped sample (`SAMPLE_DIR`);
* `pipeline`: `train_dataset`, `eval_dataset`, `steps_per_epoch`, `scaled`;
* `messages`: the phrases of error messages (exceptions, file lists, suggestions).
"""

from urfbtf.data.pipeline import eval_dataset, scaled, steps_per_epoch, train_dataset
from urfbtf.data.splits import (
    SYNTHETIC_CLASSIFICATION,
    SYNTHETIC_REGRESSION,
    VAL_SPLIT_SEED,
    Splits,
    default_val_examples,
    load_splits,
)
from urfbtf.data.tfrecords import SAMPLE_DATASET, SAMPLE_DIR

__all__ = [
    "SAMPLE_DATASET",
    "SAMPLE_DIR",
    "SYNTHETIC_CLASSIFICATION",
    "SYNTHETIC_REGRESSION",
    "VAL_SPLIT_SEED",
    "Splits",
    "default_val_examples",
    "eval_dataset",
    "load_splits",
    "scaled",
    "steps_per_epoch",
    "train_dataset",
]
