"""``python -m s2n_theory.cli``: the same entry point as the ``s2n`` script."""

from . import program

program()
