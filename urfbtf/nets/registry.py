"""Every net of the library's papers, by the name `--net` takes."""

from __future__ import annotations

from urfbtf.arguments import refuse
from urfbtf.errors import UsageError
from urfbtf.nets import amit, bartunov, frenkel, gait

NETS: dict[str, tuple] = {
    **amit.NETS,
    **frenkel.NETS,
    **bartunov.NETS,
    **gait.NETS,
}


def get_description(net) -> tuple:
    """The description of `net` (a name from `NETS`, or a description itself)."""
    if not isinstance(net, (str, tuple, list)):
        raise refuse(
            "net",
            net,
            f"a net's name ({', '.join(NETS)}) or a description (a tuple of steps)",
        )
    if not isinstance(net, str):
        return tuple(net)
    if net not in NETS:
        raise UsageError(f"Unknown net {net!r}. Valid nets: {', '.join(NETS)}.")
    return NETS[net]
