"""Image-classification data: whole splits in memory, or shards streamed.

`load_inputs` chooses the path (`--input=auto|memory|stream`): datasets that fit
are held in memory (below); the standard ImageNet TFRecord layout, buckets,
large shard sets and large prepared tfds datasets (imagenet2012,
imagenet_resized) are streamed (`stream`), never a whole split in memory.

Four kinds of source for the memory path, chosen by `load_splits` from the
dataset name:

* a tensorflow-datasets name (cifar10, mnist, ...), downloaded by tfds as usual;
* a local directory (`data_dir`) of TFRecords named
  `<dataset>-<split>.tfrecord-*` with the features `image/encoded` (JPEG or PNG
  bytes), `image/format` and `image/class/label` (int64, 0-based), plus an optional
  `classes.json`;
* `cifar10_sample`, 1000 training and 500 test CIFAR-10 images that ship inside the
  package in the same TFRecord schema, so everything runs offline;
* `synthetic_classification` and `synthetic_regression`, the 256-feature tasks of
  Frenkel et al. (2021), generated in memory by `urfbtf.data.synthetic` (features, not
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
* `tfds_stream`: a prepared tfds dataset's own files, streamed;
* `tfrecords`: local TFRecords and the shipped sample (`SAMPLE_DIR`);
* `pipeline`: `train_dataset`, `eval_dataset`, `steps_per_epoch`, `scaled`;
* `messages`: the phrases of error messages (exceptions, file lists, suggestions);
* `inputs`: `load_inputs`, the choice of path, and one interface to both;
* `layouts`: which TFRecord layout a directory holds (the project's, ImageNet's);
* `shards`: what each shard holds (records, labels), scanned once and cached;
* `stream_splits`: `load_stream_splits`, the streamed train/val/test splits;
* `stream`: the streamed training and evaluation datasets under a strategy;
* `preprocess`: decoding, crops, resizing, augmentation and normalisation.
"""

from urfbtf.data.inputs import (
    INPUTS,
    MEMORY_LIMIT_BYTES,
    MemoryInputs,
    StreamInputs,
    load_inputs,
)
from urfbtf.data.pipeline import eval_dataset, scaled, steps_per_epoch, train_dataset
from urfbtf.data.preprocess import AUGMENTATIONS, NORMALIZATIONS, Preprocessing
from urfbtf.data.splits import (
    SYNTHETIC_CLASSIFICATION,
    SYNTHETIC_REGRESSION,
    VAL_SPLIT_SEED,
    Splits,
    default_val_examples,
    first_training_examples,
    load_splits,
)
from urfbtf.data.stream import StreamSplits
from urfbtf.data.stream_splits import load_stream_splits
from urfbtf.data.tfds_stream import load_tfds_stream_splits
from urfbtf.data.tfrecords import SAMPLE_DATASET, SAMPLE_DIR

__all__ = [
    "AUGMENTATIONS",
    "INPUTS",
    "MEMORY_LIMIT_BYTES",
    "NORMALIZATIONS",
    "MemoryInputs",
    "Preprocessing",
    "SAMPLE_DATASET",
    "SAMPLE_DIR",
    "SYNTHETIC_CLASSIFICATION",
    "SYNTHETIC_REGRESSION",
    "VAL_SPLIT_SEED",
    "Splits",
    "StreamInputs",
    "StreamSplits",
    "default_val_examples",
    "eval_dataset",
    "first_training_examples",
    "load_inputs",
    "load_splits",
    "load_stream_splits",
    "load_tfds_stream_splits",
    "scaled",
    "steps_per_epoch",
    "train_dataset",
]
