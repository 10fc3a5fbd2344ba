"""Draws the filters of a trained untied layer at several locations (Amit 2019, Fig. 8).

    python tools/plot_filters.py RUN_DIR --out F.png [--layer conv1]
        [--filters 2,4] [--locations 18:6,8:12,14:14,10:23]

Untied (locally connected) layers give every location its own filter, updated on
its own; the paper shows that they nonetheless stay alike across space. For each
chosen filter (a row) the figure shows its weights at each chosen location (a
column, row:col of the output map; the defaults are those of the original code's
figure script), scaled together so that differences between locations show.
Filters on 3 input channels are drawn in colour, others averaged over their input
channels. The title gives `untied_similarity`: the mean correlation between each
location's filter and the layer's mean filter (1 = identical everywhere).

Reads RUN_DIR/model.keras, which a run writes when it ends.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import urfbtf  # noqa: E402, F401  (registers urfbtf's layers with Keras)
from urfbtf import alignment  # noqa: E402
from urfbtf.layers import UntiedConv2D  # noqa: E402


def _pairs(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in pair.split(":")) for pair in text.split(",")]


def plot_filters(layer: UntiedConv2D, filters, locations, out: Path) -> float:
    """Draws `filters` of `layer` at `locations`; returns the layer's similarity."""
    weights = layer.location_filters()  # [H_out, W_out, kh, kw, C_in, C_out]
    support = layer.connections.dense_support()
    similarity = alignment.filter_similarity(weights, support)
    height, width = weights.shape[:2]
    locations = [(min(r, height - 1), min(c, width - 1)) for r, c in locations]
    figure, axes = plt.subplots(
        len(filters),
        len(locations),
        squeeze=False,
        figsize=(1.8 * len(locations), 1.9 * len(filters)),
    )
    for row, f in enumerate(filters):
        images = [weights[r, c, :, :, :, f] for r, c in locations]
        if images[0].shape[-1] != 3:
            images = [image.mean(axis=-1) for image in images]
        low = min(image.min() for image in images)
        high = max(image.max() for image in images)
        for column, (image, (r, c)) in enumerate(zip(images, locations, strict=True)):
            axis = axes[row, column]
            axis.imshow(
                (image - low) / max(high - low, 1e-12),
                cmap="gray",
                interpolation="nearest",
                vmin=0,
                vmax=1,
            )
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"filter {f} at ({r},{c})", fontsize=8)
    figure.suptitle(f"{layer.name}: untied_similarity {similarity:.3f}", fontsize=10)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return similarity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--layer", help="an untied layer (default: the first one)")
    parser.add_argument("--filters", default="2,4")
    parser.add_argument("--locations", default="18:6,8:12,14:14,10:23")
    args = parser.parse_args()
    path = args.run_dir / "model.keras"
    if not path.exists():
        print(
            f"plot_filters: {path} does not exist; a run writes it when it ends.",
            file=sys.stderr,
        )
        return 2
    model = keras.models.load_model(path)
    untied = [layer for layer in model.layers if isinstance(layer, UntiedConv2D)]
    chosen = [layer for layer in untied if args.layer in (None, layer.name)]
    if not chosen:
        names = ", ".join(layer.name for layer in untied) or "none"
        print(
            f"plot_filters: no untied layer {args.layer or ''} in {path}; its "
            f"untied layers: {names}.",
            file=sys.stderr,
        )
        return 2
    filters = [int(f) for f in args.filters.split(",")]
    similarity = plot_filters(chosen[0], filters, _pairs(args.locations), args.out)
    print(f"wrote {args.out} ({chosen[0].name}, untied_similarity {similarity:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
