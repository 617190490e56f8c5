"""`scalinglab plan`: JSON for machines, readable tables, and bad input → one line on stderr and exit code 2."""

import json
import math

import pytest

from scalinglab.cli import main


def _run_json(capsys, *args):
    assert main(["plan", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_data_constrained_from_the_command_line(capsys):
    # Muennighoff et al. 2023 (arXiv:2305.16264): 1e22 FLOPs, 25e9 unique tokens → ≈7.02e9 params, 2.37e11 tokens.
    out = _run_json(capsys, "--flops", "1e22", "--unique-tokens", "25e9")
    assert out["data_constrained"]["n_params"] == pytest.approx(7.02e9, rel=0.02)
    assert out["data_constrained"]["n_tokens"] == pytest.approx(2.37e11, rel=0.02)
    assert out["law"]["name"] == "data_constrained"


def test_gtc_cluster_from_the_command_line(capsys):
    # NVIDIA GTC 2024: 1.8T-parameter GPT-MoE, 8,000 H100, 90 days, ≈15 MW.
    out = _run_json(capsys, "--accelerator", "h100", "--count", "8e3", "--days", "90", "--params", "1.8e12")
    assert out["cluster"]["facility_mw"] == pytest.approx(15.0, rel=0.15)
    assert out["cluster"]["n_tokens"] > 1e12


def test_inference_aware_with_law_params(capsys):
    # Sardana et al. 2023 (arXiv:2401.00448): loss 1.947, 2e12 inference tokens → N 2.418e10, D 2.657e12.
    out = _run_json(capsys, "--target-loss", "1.947", "--inference-tokens", "2e12",
                    "--law-params", "E=1.69,A=406.4,B=410.7,alpha=0.336,beta=0.283")
    assert out["inference_aware"]["n_params"] == pytest.approx(2.418e10, rel=0.01)
    assert out["inference_aware"]["n_tokens"] == pytest.approx(2.657e12, rel=0.01)


def test_fitted_law_json_file(tmp_path, capsys):
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"law": "chinchilla", "params": {"E": 1.69, "A": 406.4, "B": 410.7,
                                                                "alpha": 0.34, "beta": 0.34}}))
    out = _run_json(capsys, "--flops", "1e24", "--law", str(path))
    # α = β and A ≈ B put the optimum near N ≈ D·(A/B)^(1/2α): tokens per parameter ≈ 1
    assert out["allocation"]["tokens_per_param"] == pytest.approx((410.7 / 406.4) ** (1 / 0.34), rel=1e-3)


def test_unconverged_fit_is_refused(tmp_path, capsys):
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"law": "chinchilla", "converged": False, "message": "max iterations",
                                "params": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}}))
    assert main(["plan", "--flops", "1e24", "--law", str(path)]) == 2
    err = capsys.readouterr().err
    assert "did not converge" in err and len(err.strip().splitlines()) == 1


def test_kaplan_law_uses_the_numeric_optimum(capsys):
    # Kaplan et al. 2020 Table 2 joint law has no closed-form split; the optimum must beat 2× smaller/larger models.
    from scalinglab.laws.published import published_law

    out = _run_json(capsys, "--flops", "1e21", "--law", "kaplan2020")["allocation"]
    law = published_law("kaplan2020")
    for factor in (0.5, 2.0):
        n = out["n_params"] * factor
        assert float(law.predict(n_params=n, n_tokens=1e21 / (6 * n))) > out["loss"]


def test_memory_from_the_command_line(capsys):
    shape = ["--params", "70e9", "--layers", "80", "--d-model", "8192", "--heads", "64", "--seq-len", "4096",
             "--accelerator", "h100", "--memory"]
    assert _run_json(capsys, *shape)["memory"]["fits"] is False
    out = _run_json(capsys, *shape, "--dp", "64", "--zero", "3", "--recompute", "full")
    assert out["memory"]["fits"] is True and out["memory"]["n_devices"] == 64


def test_readable_tables_by_default(capsys):
    assert main(["plan", "--flops", "1e25"]) == 0
    text = capsys.readouterr().out
    assert "Compute-optimal" in text and "tokens per parameter" in text


@pytest.mark.parametrize("args, fragment", [
    (["--flops", "0"], "flops"),
    (["--flops", "-1e22"], "flops"),
    (["--accelerator", "h100", "--count", "0", "--days", "9"], "count"),
    (["--accelerator", "h100", "--count", "8.5", "--days", "9"], "whole number"),
    (["--accelerator", "h100", "--count", "8", "--days", "-9"], "days"),
    (["--accelerator", "h1000", "--count", "8", "--days", "9"], "did you mean"),
    (["--accelerator", "mi300", "--count", "8", "--days", "9"], "mi300x"),
    (["--target-loss", "2.0", "--flops", "1e24"], "contradictory"),
    (["--flops", "1e22", "--params", "1e9", "--tokens", "1e12"], "contradictory"),
    (["--accelerator", "h100", "--count", "8", "--days", "9", "--budget", "1e6"], "exactly two"),
    (["--flops", "1e25", "--accelerator", "h100", "--count", "10", "--days", "9"], "infeasible"),
    (["--target-loss", "1.5"], "infeasible"),
    (["--inference-tokens", "2e12"], "--target-loss"),
    (["--flops", "1e22", "--unique-tokens", "25e9", "--law", "chinchilla"], "data-constrained law"),
    (["--flops", "1e22", "--law", "gpt5"], "unknown law"),
    (["--count", "8", "--days", "2"], "--accelerator"),
    ([], "nothing to plan"),
])
def test_bad_input_is_one_line_and_exit_code_2(capsys, args, fragment):
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and fragment in err
    assert len(err.splitlines()) == 1


def test_a_model_that_does_not_fit_its_cluster_is_flagged_with_the_device_count_that_would(capsys):
    # Issue 16.6: this plan used to print 5,699 tokens and $72 with no word about memory.
    args = ["--params", "1e15", "--accelerator", "h100", "--count", "1", "--days", "1"]
    assert main(["plan", *args]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "does not fit" in text and "too few" in text
    out = _run_json(capsys, *args)
    # 16 bytes per parameter (mixed-precision Adam, ZeRO Sec. 3.1) sharded over the fewest 80 GB H100s.
    assert out["memory"]["fits"] is False
    assert out["memory"]["fix"]["n_devices"] == math.ceil(16 * 1e15 / 80e9)
    assert any("does not fit" in w for w in out["warnings"])


def test_tokens_below_one_batch_are_flagged_and_a_plan_that_fits_has_no_warnings(capsys):
    out = _run_json(capsys, "--params", "1e12", "--accelerator", "h100", "--count", "1000", "--days", "1e-5")
    assert out["cluster"]["n_tokens"] < 1000 * 2048  # one 2048-token sequence per data-parallel rank
    assert any("less than one batch" in w for w in out["warnings"])
    fine = _run_json(capsys, "--params", "1e9", "--accelerator", "h100", "--count", "8", "--days", "1")
    assert fine["memory"]["fits"] is True and fine["warnings"] == []
