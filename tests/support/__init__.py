"""What the tests share: the repository's paths, and the helpers and scripts
several test modules use (a rule of the tests' own, the reference code of Frenkel
et al. (2021), the loader of tools/ scripts, and the training scripts a test kills
mid-run). Test modules import them from here; the scripts also run by path."""
