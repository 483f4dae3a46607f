"""The session of docs/python_api.md as a script: check muP from Python, print the rows, write the figure.

The page runs it while the docs build (``{command-figure}``), in a fresh directory: the results file
python_api.db and the figure land there.
"""

import argparse

import abcscale

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--plot", default="python_api.png", help="figure file (.png, .pdf or .svg)")
args = parser.parse_args()

r = abcscale.check("mup", widths=[64, 128, 256], seeds=2, steps=1, base_width=64, db="python_api.db")
print(repr(r))
print(r.to_dataframe()[["quantity", "layer", "step", "predicted", "measured", "low", "high", "verdict"]].to_string())
r.plot(args.plot)
