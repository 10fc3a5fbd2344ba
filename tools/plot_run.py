"""Learning curves beside the W-R correlation of runs, in one figure (Amit 2019,
Figs. 4/7 and 10-11), as the papers' pages and the Colab notebook draw them.

    .venv/bin/python tools/plot_run.py RUN_DIR [RUN_DIR ...] --out F.png
        [--title T] [--max_error E]

The same as `python -m urfbtf.plot curves --wr RUN_DIR ...` (`urfbtf.plot`).
"""

import sys

from urfbtf.plot.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["curves", "--wr", *sys.argv[1:]]))
