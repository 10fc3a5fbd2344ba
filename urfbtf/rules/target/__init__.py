"""Training by targets: the target model and the rules that give its targets.

==============  ================================================================
module          holds
==============  ================================================================
`model`         `TargetModel` (the training step every target rule shares),
                `Targets`, the parallel/alternating schedule
`chain`         the net as a chain of stages, read off its graph
`ops`           the tensor arithmetic the rules and the model share
`rule`          `TargetRule`, the rule protocol's side of every target rule
`propagation`   tp, dtp, sdtp, aosdtp: targets through learned inverses
                (Bartunov et al. 2018)
`gait`          gait, tp_exact: targets through exact inverses (Ahmad et al.
                2020; the GAIT-prop ImageNet paper), on `exact_ops`
`settings`      the rules' own settings
==============  ================================================================
"""

from urfbtf.rules.target.chain import Chain, Stage, chain_of
from urfbtf.rules.target.gait import GAIT, TP_EXACT, ExactInverseTargets
from urfbtf.rules.target.model import (
    SCHEDULES,
    TargetModel,
    Targets,
    TargetSchedule,
    pass_steps,
    phase_of,
)
from urfbtf.rules.target.propagation import (
    AOSDTP,
    DTP,
    SDTP,
    TP,
    TargetPropagation,
)
from urfbtf.rules.target.rule import TargetRule

__all__ = [
    "AOSDTP",
    "DTP",
    "GAIT",
    "SCHEDULES",
    "SDTP",
    "TP",
    "TP_EXACT",
    "Chain",
    "ExactInverseTargets",
    "Stage",
    "TargetModel",
    "TargetPropagation",
    "TargetRule",
    "TargetSchedule",
    "Targets",
    "chain_of",
    "pass_steps",
    "phase_of",
]
