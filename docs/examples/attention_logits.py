"""Attention logits of gpt-mup (Adam) under each head convention and attention exponent: init and change."""

from dataclasses import replace
from fractions import Fraction

import abcscale
from theory.exponents import format_exponent

base = abcscale.parametrization("gpt-mup", optimizer="adam")
print(f"{'heads':<12} {'logits':<18} {'init':>5} {'change':>7}  regime")
for heads in ("fixed-count", "fixed-dim"):
    for alpha, label in ((Fraction(1, 2), "q.k / sqrt(d_head)"), (Fraction(1), "q.k / d_head")):
        param = replace(base, network=replace(base.network, heads=heads, attention_exponent=alpha))
        report = abcscale.derive(param)
        scores = report.modules["h0.attn.scores"]
        print(f"{heads:<12} {label:<18} {format_exponent(scores['init']):>5} "
              f"{format_exponent(scores['change']):>7}  {report.regime}")
