"""Names for the layers of a converted model, unique once nested models are
inlined.

A nested model's layers keep their names unless a layer of the outer model (or
of another nested model) has the name; then the name is prefixed with the
names of the models that held the layer, and numbered if still taken.
"""

from __future__ import annotations


def fresh_name(name: str, taken: set) -> str:
    """`name`, or `name_2`, `name_3`, ... if taken; marks it taken."""
    base, count = name, 1
    while name in taken:
        count += 1
        name = f"{base}_{count}"
    taken.add(name)
    return name


def unique_names(calls) -> dict:
    """A name for every layer: its own, or, for a nested layer whose name is
    taken, prefixed with the names of the models that held it."""
    names = {}
    for call in calls:
        if not call.path:
            names.setdefault(id(call.operation), call.operation.name)
    taken = set(names.values())
    for call in calls:
        if id(call.operation) not in names:
            name = call.operation.name
            if name in taken:
                name = "_".join((*call.path, name))
            names[id(call.operation)] = fresh_name(name, taken)
    return names
