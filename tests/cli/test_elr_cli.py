"""abcscale elr: prediction table and --json, bad input -> one line and exit 2."""

from __future__ import annotations

import json

import pytest

from abcscale.cli import main


def test_prediction_json_matches_numerics(capsys: pytest.CaptureFixture[str]) -> None:
    from numerics.elr import dynamics as elr

    assert main(["elr", "--grad-norms", "100,10,1", "--lr", "0.5", "--steps", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["initial_spread"] == pytest.approx(100.0)
    assert out["critical_lr_t0"] == pytest.approx(0.1)  # 1/sqrt(100 * 1)
    crit = elr.simulate([100, 10, 1], 1.0, elr.critical_warmup_schedule(0.5), 50)
    assert out["steps_to_spread_below_2"]["critical"] == elr.steps_to_spread(crit.spread, 2.0)


def test_prediction_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["elr", "--depth", "8", "--steps", "20"]) == 0
    text = capsys.readouterr().out
    assert "critical lr at t=0" in text and "steps to spread < 2" in text


@pytest.mark.parametrize("argv", [
    ["elr", "--grad-norms", "1,x"],
    ["elr", "--grad-norms", "1,-2"],
    ["elr", "--lr", "-1"],
    ["elr", "--steps", "0"],
    ["elr", "--depth", "0"],
    ["elr", "--train", "--seeds", "a"],
    ["elr", "--train", "--warmup-grid", "0"],
    ["elr", "--train", "--horizons", "0,10"],
    ["elr", "--train", "--horizons", "x"],
    ["elr", "--train", "--plot", "out.txt", "--steps", "2", "--depth", "2", "--seeds", "0"],
    ["elr", "--norm", "gn"],
    ["elr", "--scan", "--factors", "1,-2"],
    ["elr", "--scan", "--warm-steps", "-1"],
    ["elr", "--scan", "--train"],
    ["elr", "--train", "--momentum", "1"],
    ["elr", "--train", "--arch", "cnn", "--data", "synthetic"],
    ["elr", "--train", "--arch", "resnet"],
    ["elr", "--scan", "--momentum", "0.9"],
    ["elr", "--weight-decay", "0.1"],
    ["elr", "--arch", "cnn"],
    ["elr", "--train", "--momentum", "nan"],
    ["elr", "--train", "--weight-decay", "-0.1"],
    ["elr", "--train", "--weight-decay", "inf"],
])
def test_bad_input_is_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("abcscale: error:") and "\n" not in err


def test_train_small_with_plot(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    import pathlib

    plot = pathlib.Path(str(tmp_path)) / "spread.png"
    argv = ["elr", "--train", "--depth", "4", "--width", "16", "--steps", "15", "--seeds", "0",
            "--warmup-grid", "5", "--horizons", "1,5,50", "--plot", str(plot), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["schedule"] for r in out["rows"]} == {"constant", "linear-5", "critical"}
    assert plot.stat().st_size > 0
    # horizons past the run collapse into the full run (K = steps: gamma frozen at init)
    assert out["agreement"]["horizons"] == [1, 5, 15]
    for r in out["rows"]:
        full = r["male_vs_horizon"]["15"]
        assert set(full) >= {"spread_model", "spread_persistence", "layer_smoothed_model"}
        assert len(full["spread_model"]["per_seed"]) == 1 and full["spread_model"]["mean"] >= 0


def test_train_text_shows_the_horizon_table(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["elr", "--train", "--depth", "3", "--width", "8", "--steps", "12", "--seeds", "0,1",
            "--warmup-grid", "4", "--horizons", "2"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    table = [ln.split() for ln in lines if ln.split()[:1] in (["constant"], ["critical"])]
    # main table (2 rows) + horizon table (2 horizons x 2 of these schedules)
    assert [row[1] for row in table if row[0] == "critical"][1:] == ["2", "12"]
    assert lines[-1].startswith("measurement noise")


def test_train_with_momentum_reports_no_norm_residual(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["elr", "--train", "--depth", "3", "--width", "8", "--steps", "6", "--seeds", "0", "--warmup-grid", "2",
            "--momentum", "0.9", "--weight-decay", "0.01", "--json"]
    assert main(argv) == 0
    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    out = json.loads(capsys.readouterr().out, parse_constant=refuse)  # no NaN or Infinity
    assert out["config"]["momentum"] == 0.9 and out["config"]["weight_decay"] == 0.01
    for r in out["rows"]:
        assert r["max_rel_norm_residual"] is None  # no exact recursion with momentum
        assert r["final_gamma_spread_mean"] >= 1.0


def test_scan_json_model_minimum_at_the_critical_rate(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["elr", "--scan", "--depth", "6", "--width", "16", "--seeds", "0", "--factors", "0.5,1,2", "--json"]
    assert main(argv) == 0
    seed0 = json.loads(capsys.readouterr().out)["seeds"]["0"]
    model = seed0["predicted"]
    assert model[1] < model[0] and model[1] < model[2]           # the model's spread is smallest at k = 1
    assert len(seed0["measured"]) == 3 and seed0["spread_before"][0] > 1
