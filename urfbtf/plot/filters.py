"""The filters of a trained untied layer at several locations (Amit 2019, Fig. 8).

Untied (locally connected) layers give every location its own filter, updated
on its own; the paper shows that they nonetheless stay alike across space. For
each chosen filter (a row) the figure shows its weights at each chosen location
(a column, row:col of the output map; the defaults are those of the original
code's figure script), scaled together so that differences between locations
show. Filters on 3 input channels are drawn in colour, others averaged over
their input channels. The title gives `untied_similarity`: the mean correlation
between each location's filter and the layer's mean filter (1: identical
everywhere). Reads the run's model.keras, which a run writes when it ends.
"""

from __future__ import annotations

from urfbtf import alignment
from urfbtf.errors import RunFilesError, UsageError
from urfbtf.layers import UntiedConv2D
from urfbtf.plot.figure import new_figure, run_dirs

# The locations of the original code's figure script.
LOCATIONS = ((18, 6), (8, 12), (14, 14), (10, 23))
FILTERS = (2, 4)


def untied_layer(run_dir, layer: str | None = None) -> UntiedConv2D:
    """The untied layer `layer` (default: the first) of run_dir/model.keras."""
    import keras

    path = run_dirs(run_dir)[0] / "model.keras"
    if not path.is_file():
        raise RunFilesError(f"{path} does not exist; a run writes it when it ends.")
    model = keras.models.load_model(path)
    untied = [found for found in model.layers if isinstance(found, UntiedConv2D)]
    chosen = [found for found in untied if layer in (None, found.name)]
    if not chosen:
        names = ", ".join(found.name for found in untied) or "none"
        raise UsageError(
            f"No untied layer {layer or ''} in {path}; its untied layers: {names}."
        )
    return chosen[0]


def filters(run_dir, *, layer=None, filters=FILTERS, locations=LOCATIONS):
    """The figure of `filters` of an untied layer of a run at `locations`
    ((row, col) of its output map, clipped to the map); its title gives the
    layer's untied_similarity."""
    untied = untied_layer(run_dir, layer)
    weights = untied.location_filters()  # [H_out, W_out, kh, kw, C_in, C_out]
    similarity = alignment.filter_similarity(
        weights, untied.connections.dense_support()
    )
    height, width = weights.shape[:2]
    places = [(min(r, height - 1), min(c, width - 1)) for r, c in locations]
    bad = [f for f in filters if not 0 <= f < weights.shape[-1]]
    if bad:
        raise UsageError(
            f"filters {bad}: {untied.name} has filters 0 to {weights.shape[-1] - 1}."
        )
    figure = new_figure(1.8 * len(places), 1.9 * len(filters))
    axes = figure.subplots(len(filters), len(places), squeeze=False)
    for row, f in enumerate(filters):
        images = [weights[r, c, :, :, :, f] for r, c in places]
        if images[0].shape[-1] != 3:
            images = [image.mean(axis=-1) for image in images]
        low = min(image.min() for image in images)
        high = max(image.max() for image in images)
        for column, (image, (r, c)) in enumerate(zip(images, places, strict=True)):
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
    figure.suptitle(f"{untied.name}: untied_similarity {similarity:.3f}", fontsize=10)
    figure.untied_similarity = similarity
    return figure


def pairs(text: str) -> list[tuple[int, int]]:
    """ "18:6,8:12" -> [(18, 6), (8, 12)]; a `UsageError` for anything else."""
    try:
        found = [tuple(int(v) for v in pair.split(":")) for pair in text.split(",")]
    except ValueError:
        found = []
    if not found or any(len(pair) != 2 for pair in found):
        raise UsageError(
            f"--locations={text!r}: row:col pairs, comma separated, e.g. 18:6,8:12."
        )
    return found
