"""Transformers in the engine: derived exponents side by side with what the papers state.

Expected values here are the papers' (TP5 Table 3, TP5 Sec. 4's attention argument, Everett et al.'s full
alignment) typed in as the *expected* side of each test; the engine derives the other side from the GPT's
operations.  Property tests check the abc symmetry per tensor, TOML against Python, and that a GPT reduces to
simpler networks when parts are removed.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from theory.config import load_toml
from theory.engine import derive
from theory.errors import InputError
from theory.solver import solve
from theory.symmetry import equivalent, shift
from theory.transformer import GPT, KIND_ROLES, get_gpt_preset, gpt_parametrization

H = Fraction(1, 2)
# TP5 Table 3 (muP): learning-rate exponents c per role (lr = eta n^-c), SGD and Adam columns
TP5_TABLE3_C = {"sgd": {"input": -1, "vector": -1, "hidden": 0, "output": 1},
                "adam": {"input": 0, "vector": 0, "hidden": 1, "output": 1}}
# Everett et al. 2024 Table 1, SP with full alignment: c per role
EVERETT_SP_FULL_ALIGN_C = {"sgd": {"input": -H, "vector": -H, "hidden": H, "output": 1},
                           "adam": {"input": 0, "vector": 0, "hidden": 1, "output": 1}}


def _c_by_role(param: object) -> dict[str, sympy.Expr]:
    out: dict[str, set[sympy.Expr]] = {}
    for layer in param.layers:  # type: ignore[attr-defined]
        out.setdefault(layer.role, set()).add(layer.c)
    assert all(len(values) == 1 for values in out.values()), out  # one c per role, every block alike
    return {role: next(iter(values)) for role, values in out.items()}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_solve_from_mup_init_recovers_tp5_table3(optimizer: str) -> None:
    solved = solve(get_gpt_preset("gpt-mup", optimizer=optimizer))
    assert _c_by_role(solved.parametrization) == {k: sympy.Rational(v) for k, v in TP5_TABLE3_C[optimizer].items()}
    assert solved.report.regime == "stable" and solved.report.dynamics == "feature-learning"
    assert equivalent(solved.parametrization, get_gpt_preset("gpt-mup", optimizer=optimizer)).equivalent


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_solve_from_sp_init_gives_full_alignment_rates(optimizer: str) -> None:
    """From SP's init no learning rate reaches muP (the readout's init variance differs, and the abc symmetry
    cannot move b without a); the per-tensor rates for Theta(1) updates are Everett et al.'s SP-full-align."""
    solved = solve(get_gpt_preset("gpt-sp", optimizer=optimizer))
    want = {k: sympy.Rational(v) for k, v in EVERETT_SP_FULL_ALIGN_C[optimizer].items()}
    assert _c_by_role(solved.parametrization) == want
    mup = get_gpt_preset("gpt-mup", optimizer=optimizer)
    reasons = equivalent(replace(solved.parametrization, network=mup.network), mup).reasons
    assert any("lm_head (output): b = 1, symmetry needs 1/2" in r for r in reasons), reasons


def test_adamw_decay_makes_eta_lambda_width_independent() -> None:
    solved = solve(get_gpt_preset("gpt-mup", optimizer="adamw"))
    for layer in solved.parametrization.layers:
        assert layer.wd_exponent == -layer.c, layer  # lambda ~ n^c: eta lambda = n^0 in every tensor
    assert solved.report.regime == "stable"
    # a decay rate growing with n is refused by the regime (the weights flip sign each step)
    too_strong = solved.parametrization.with_layers(c=[0] * len(solved.parametrization.layers))
    assert derive(too_strong).regime == "catastrophic"


def _scores(report: object) -> dict[str, sympy.Expr]:
    return report.modules["h0.attn.scores"]  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("heads, alpha, init, change", [
    ("fixed-count", H, 0, H),  # 1/sqrt(d_head): Theta(1) at init, n^{1/2} once q and k are correlated
    ("fixed-count", Fraction(1), -H, 0),  # 1/d_head: n^{-1/2} at init, Theta(1) after updates
    ("fixed-dim", H, 0, 0),  # a fixed d_head: the two conventions do not differ in width
    ("fixed-dim", Fraction(1), 0, 0),
])
def test_attention_logits_at_mup_learning_rates(heads: str, alpha: Fraction, init: Fraction, change: Fraction
                                                ) -> None:
    param = get_gpt_preset("gpt-mup", optimizer="adam")
    param = replace(param, network=replace(param.network, heads=heads, attention_exponent=alpha))
    scores = _scores(derive(param))
    assert (scores["init"], scores["change"]) == (sympy.Rational(init), sympy.Rational(change))


@pytest.mark.parametrize("heads, alpha, own, carried", [
    ("fixed-count", Fraction(1), 0, -H),  # the own updates meet k coherently over d_head, the carried ones do not
    ("fixed-count", H, H, 0),
    ("fixed-dim", Fraction(1), 0, 0),  # no sum that grows with n
])
def test_attention_logit_change_parts(heads: str, alpha: Fraction, own: Fraction, carried: Fraction) -> None:
    """The change's own part (the query's and key's own updates) and carried part (the initial weights on the moved
    inputs), at every step: the change is the larger, as the engine's max rule has it."""
    param = get_gpt_preset("gpt-mup", optimizer="adam")
    report = derive(replace(param, network=replace(param.network, heads=heads, attention_exponent=alpha)))
    for step in (1, 2, report.horizon, report.horizon + 3):
        parts = [report.module_exponent("h1.attn.scores", kind, step) for kind in ("own", "carried", "change")]
        assert parts == [sympy.Rational(own), sympy.Rational(carried), sympy.Rational(max(own, carried))]
    assert report.module_exponent("logits", "init", 5) == report.modules["logits"]["init"]
    zero_query = derive(replace(param, layers=tuple(replace(l, zero_init=l.name.endswith(".q")) for l in param.layers)))
    assert zero_query.module_exponent("h0.attn.scores", "carried", 1) == -sympy.oo  # W_Q0 = 0: P_q = 0
    with pytest.raises(InputError, match="did you mean 'h0.attn.scores'"):
        report.module_exponent("h0.attn.score", "change", 1)
    with pytest.raises(InputError, match="choose init, change"):
        report.module_exponent("logits", "grad", 1)


def test_attention_logit_growth_saturates_the_softmax_not_the_network() -> None:
    """1/sqrt(d_head) at muP rates: the logits grow like n^{1/2}; the softmax saturates (controlled, as the
    output logits under cross-entropy) while every activation stays Theta(1)."""
    param = get_gpt_preset("gpt-mup", optimizer="adam")
    report = derive(replace(param, network=replace(param.network, attention_exponent=H)))
    assert report.regime == "controlled-divergence" and report.dynamics == "feature-learning"
    assert report.logits["update"] == 0


@pytest.mark.parametrize("optimizer, loss, gains, edge", [
    ("sgd", "ce", True, -H), ("sgd", "mse", True, Fraction(-3, 2)), ("adam", "ce", True, -1),
    ("adamw", "ce", True, -1), ("adam", "ce", False, -1), ("sgd", "ce", False, -H),
])
def test_gpt_sp_maximal_stable_exponents(optimizer: str, loss: str, gains: bool, edge: Fraction) -> None:
    """SP GPT: the maximal stable exponent equals the MLP's under cross-entropy (the logits' controlled
    divergence bounds it), lower under MSE; trainable norm gains do not move it (docs/transformers.md)."""
    arch = replace(get_gpt_preset("gpt-sp").network, norm_gains=gains)
    param = gpt_parametrization(arch, {k: (0, 0 if KIND_ROLES[k] in ("input", "vector") else H, 0)
                                       for k in KIND_ROLES}, optimizer=optimizer, loss=loss, lr_exponent="x")
    assert derive(param).max_stable_lr_exponent == sympy.Rational(edge)


def test_tied_embeddings_need_the_readout_multiplier() -> None:
    base = get_gpt_preset("gpt-mup", optimizer="adam")
    abc = {k: (0, 0, 0) if KIND_ROLES[k] in ("input", "vector") else (0, H, 1) for k in KIND_ROLES}
    tied = gpt_parametrization(replace(base.network, tied=True, readout_multiplier=1), abc, optimizer="adam")
    report = derive(tied)
    assert report.regime == "stable" and report.logits["update"] == 0
    assert "as embedding dW x ~ n^0, as readout dW x ~ n^0" in report.notes[-1]
    plain = gpt_parametrization(replace(base.network, tied=True), abc, optimizer="adam")
    assert derive(plain).regime == "controlled-divergence"  # the shared Theta(1) init makes logits n^{1/2}
    solved = solve(plain)
    wte = solved.parametrization.layers[0]
    assert (wte.name, wte.c) == ("wte", 1)  # the readout's need sets the rate: the embedding freezes
    assert "as embedding dW x ~ n^-1" in solved.report.notes[-1]


def test_toml_and_python_give_the_same_report(tmp_path: Path) -> None:
    path = tmp_path / "gpt.toml"
    path.write_text('name = "gpt-mup"\npreset = "gpt-mup"\noptimizer = "adam"\nzero_init = ["query"]\n'
                    '[transformer]\nblocks = 3\nheads = "fixed-dim"\n[tensors."h1.attn.v"]\nc = "1/2"\n')
    from_file = load_toml(path)
    built = gpt_parametrization(replace(get_gpt_preset("gpt-mup").network, blocks=3, heads="fixed-dim"),
                                {k: (0, 0, 0) if KIND_ROLES[k] in ("input", "vector") else
                                 (0, 1 if k == "readout" else H, 1) for k in KIND_ROLES},
                                name="gpt-mup", optimizer="adam", zero_init=("query",),
                                overrides={"h1.attn.v": {"c": "1/2"}})
    assert replace(from_file, source="") == replace(built, source="")
    assert derive(from_file).to_dict() == derive(built).to_dict()


def test_without_attention_and_norms_the_block_is_a_residual_mlp() -> None:
    """One block without attention and norms is the residual MLP embedding -> x + W phi(...) -> readout: its
    width exponents are those the depth engine derives for Depth-muP's residual MLP (whose L-exponents a
    single block has no use for), under the same muP widths rates."""
    from theory.depth import derive_depth, get_depth_preset

    arch = GPT(blocks=1, attention=False, norm="none")
    gpt = gpt_parametrization(arch, {k: (0, 0, -1) if KIND_ROLES[k] in ("input", "vector") else
                                     (0, 1 if k == "readout" else H, 1 if k == "readout" else 0)
                                     for k in KIND_ROLES}, optimizer="sgd", activation="relu")
    names = [layer.name for layer in gpt.layers]
    assert names == ["wte", "wpe", "h0.mlp.up", "h0.mlp.down", "lm_head"]
    report = derive(gpt)
    residual = derive_depth(get_depth_preset("depth-mup"))
    assert report.regime == residual.regime == "stable"
    by_name = dict(zip(names, report.layers, strict=True))
    width = {key: value.n for key, value in residual.settled.items()}
    assert report.modules["h0.resid.mlp"]["change"] == width["stream_update"]
    assert by_name["h0.mlp.down"].values["effective_update"] == width["block_effective_update"]
    assert by_name["wte"].values["effective_update"] == width["embedding_update"]
    assert report.logits["update"] == width["logit_update"]
    assert by_name["wte"].values["backward_gradient"] == width["stream_gradient"]
    assert report.logits["init"] == residual.init["logits"].n


EXPONENTS = st.sampled_from([Fraction(k, 2) for k in range(-2, 3)])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(thetas=st.lists(EXPONENTS, min_size=20, max_size=20), optimizer=st.sampled_from(["sgd", "adam", "adamw"]),
       preset=st.sampled_from(["gpt-sp", "gpt-mup"]))
def test_abc_symmetry_per_tensor_leaves_every_exponent_unchanged(thetas: list[Fraction], optimizer: str,
                                                                 preset: str) -> None:
    base = get_gpt_preset(preset, optimizer="adam" if optimizer == "adamw" else optimizer)
    if optimizer == "adamw":
        base = solve(base.with_(optimizer="adamw")).parametrization
    shifted = shift(base, [sympy.Rational(t.numerator, t.denominator) for t in thetas])
    assert equivalent(base, shifted).equivalent
    one, two = derive(base), derive(shifted)
    assert (one.regime, one.max_stable_lr_exponent, one.modules) == (two.regime, two.max_stable_lr_exponent,
                                                                     two.modules)
    for first, second in zip(one.layers, two.layers, strict=True):
        # the features and their changes are invariant; per-entry weight quantities move with the shift
        for quantity in ("init_preactivation", "effective_update", "propagating_update", "feature_update"):
            assert first.values[quantity] == second.values[quantity], (quantity, first.index)


@pytest.mark.parametrize("text, needle", [
    ('[transformer]\nblocks = 2\n', "no exponent for the hidden tensors"),
    ('preset = "gpt-mup"\n[transformer]\nreadout_multiplier = 1\n', "readout_multiplier: applies to a tied"),
    ('preset = "gpt-mup"\n[transformer]\nheads = "some"\n', "unknown transformer.heads 'some'"),
    ('preset = "gpt-mup"\n[transformer]\nblocks = 0\n', "transformer.blocks: need 1..256 blocks, got 0"),
    ('preset = "gpt-mup"\n[transformer]\nwidth = 3\n', "transformer.width: unknown key"),
    ('preset = "gpt-mup"\n[tensors."h9.attn.q"]\nc = 1\n', "tensors.h9.attn.q: no such tensor"),
    ('preset = "gpt-mup"\n[tensors."h0.attn.q"]\nd = 1\n', "tensors.h0.attn.q.d: unknown key"),
    ('preset = "gpt-mup"\nzero_init = ["quary"]\n', "zero_init: 'quary' is neither a tensor nor a kind"),
    ('preset = "mup"\n[transformer]\nblocks = 2\n', "a transformer starts from a GPT preset"),
    ('preset = "gpt-mup"\n[hidden]\nwd_exponent = 1\n', "decoupled weight decay applies to adamw, not sgd"),
    ('preset = "gpt-mup"\n[transformer]\ntied = true\n[output]\nb = 1\n', "output: a tied readout is the token"),
])
def test_bad_transformer_files_fail_in_one_line(text: str, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_toml(path)
    message = str(err.value)
    assert needle in message and "\n" not in message, message


# ---- depth: Depth-muP and CompleteP ------------------------------------------------------------------------------
def _pair(report: object, tensor: str, quantity: str) -> tuple[Fraction, Fraction]:
    value = report.tensors[tensor][quantity]  # type: ignore[attr-defined]
    return (value.n, value.L)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_completep_learns_in_every_block_and_depth_mup_does_not(optimizer: str) -> None:
    """Dey et al. 2025: with branches L^-1 (and their LR rules) each block's internal features move Theta(1) in
    depth; with L^-1/2 (Depth-muP) they move like L^-1/2: lazy in depth.  The stream moves Theta(1) in both."""
    from theory.network_depth import derive_network_depth

    complete = derive_network_depth(get_gpt_preset("gpt-completep", optimizer=optimizer))
    depth_mup = derive_network_depth(get_gpt_preset("gpt-depth-mup", optimizer=optimizer))
    assert complete.regime == depth_mup.regime == "stable"
    for report in (complete, depth_mup):
        change = report.modules["h1.resid.mlp"]["change"]
        assert (change.n, change.L) == (0, 0)
    assert _pair(complete, "h0.mlp.up", "effective_update") == (0, 0)
    assert _pair(depth_mup, "h0.mlp.up", "effective_update") == (0, -H)


def test_block_internal_updates_agree_with_the_residual_mlp_engine() -> None:
    """The residual MLP's depth engine (theory.depth) and the GPT's blocks give the same depth exponent to a
    block's internal update, for Depth-muP and CompleteP (SGD; muP in width)."""
    from theory.depth import derive_depth, get_depth_preset
    from theory.network_depth import derive_network_depth

    for gpt, residual in (("gpt-depth-mup", "depth-mup"), ("gpt-completep", "completep")):
        block = derive_depth(get_depth_preset(residual)).settled["block_internal_update"]
        assert _pair(derive_network_depth(get_gpt_preset(gpt)), "h0.mlp.up", "effective_update") == (block.n,
                                                                                                      block.L)


def test_unscaled_branches_grow_the_stream_with_depth() -> None:
    from theory.network_depth import derive_network_depth

    base = get_gpt_preset("gpt-mup", optimizer="adam")
    report = derive_network_depth(replace(base, network=replace(base.network, depth_alpha=0)))
    init = report.modules["h1.resid.mlp"]["init"]
    assert (init.n, init.L) == (0, H) and report.regime == "catastrophic"  # sqrt(L) at init


def test_depth_scaled_transformers_are_refused_by_the_width_derivation() -> None:
    with pytest.raises(InputError, match="exponents in n and L"):
        derive(get_gpt_preset("gpt-completep"))
    with pytest.raises(InputError, match="transformer.depth_alpha: depth exponents are derived for pre-norm"):
        GPT(norm="none", depth_alpha=1)
    with pytest.raises(InputError, match="transformer.depth_c: unknown kind of tensor 'mlp'"):
        GPT(depth_alpha=1, depth_c=(("mlp", 1),))
