"""One law registry, one law reader: every law file scalinglab writes is read back by predict, optimal and plan;
unconverged fits are refused everywhere with one message; the planner takes Law objects."""

import json
import subprocess
import sys

import pytest

from conftest import synthetic_chinchilla_runs
from scalinglab.cli import main
from scalinglab.errors import InputError
from scalinglab.laws import Chinchilla, published_law
from scalinglab.laws.io import law_from_dict, load_law
from scalinglab.plan.planner import PlanRequest, make_plan

TRUE = dict(E=1.8, A=400.0, B=1500.0, alpha=0.34, beta=0.37)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The law files the project writes, from one fit: fit --save, fit --json, report.json, the demo's laws.json,
    plan --json; and the fitted law they all hold."""
    d = tmp_path_factory.mktemp("laws")
    runs = d / "runs.csv"
    synthetic_chinchilla_runs(noise=0.01, seed=0, **TRUE).to_csv(runs, index=False)
    files = {"fit_save": d / "fit.json"}
    assert main(["fit", str(runs), "--save", str(files["fit_save"]), "--json"]) == 0
    assert main(["report", str(runs), "-o", str(d / "report.html"), "--bootstrap", "0", "--no-approaches",
                 "--no-backtest"]) == 0
    files["report"] = d / "report.json"
    fitted = json.loads(files["fit_save"].read_text())
    # the shape scalinglab/demo/pipeline.py writes: the report's numbers with the fit under "law"
    report = json.loads(files["report"].read_text())
    files["demo_laws"] = d / "laws.json"
    files["demo_laws"].write_text(json.dumps({"preset": "tiny", "n_runs": report["n_runs_fitted"],
                                              "law": report["fit"], "bootstrap": report["bootstrap"]}))
    files["bare"] = d / "bare.json"
    files["bare"].write_text(json.dumps(fitted["params"]))
    return files, Chinchilla(**fitted["params"])


def _json(capsys, args):
    capsys.readouterr()
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("kind", ["fit_save", "report", "demo_laws", "bare"])
def test_predict_optimal_and_plan_read_every_law_file_the_project_writes(capsys, written, kind):
    files, law = written
    path = str(files[kind])
    assert load_law(path) == law
    out = _json(capsys, ["predict", "--N", "1e9", "--D", "2e10", "--law-file", path, "--json"])
    assert out["loss"] == pytest.approx(float(law.predict(N=1e9, D=2e10)), rel=1e-12)
    out = _json(capsys, ["optimal", "--flops", "1e22", "--law-file", path, "--json"])
    assert out["allocations"][0]["n_params"] == pytest.approx(float(law.optimal_n_params(1e22)), rel=1e-9)
    plan = _json(capsys, ["plan", "--flops", "1e22", "--law", path, "--json"])
    assert plan["law"]["params"] == pytest.approx(law.params(), rel=1e-12)
    # plan --json output is itself a law file
    (files[kind].parent / "plan.json").write_text(json.dumps(plan))
    assert load_law(files[kind].parent / "plan.json") == law


@pytest.mark.parametrize("kind", ["fit_save", "report", "demo_laws"])
def test_an_unconverged_fit_is_refused_everywhere_with_one_message(capsys, written, tmp_path, kind):
    files, _ = written
    data = json.loads(files[kind].read_text())
    fit = data if kind == "fit_save" else data["fit" if kind == "report" else "law"]
    fit.update(converged=False, message="iteration limit reached")
    path = tmp_path / "unconverged.json"
    path.write_text(json.dumps(data))
    expected = f"error: {path}: this fit did not converge (iteration limit reached); refit before using it\n"
    for args in (["predict", "--N", "1e9", "--D", "2e10", "--law-file", str(path)],
                 ["optimal", "--flops", "1e22", "--law-file", str(path)],
                 ["plan", "--flops", "1e22", "--law", str(path)]):
        capsys.readouterr()
        assert main(args) == 2
        assert capsys.readouterr().err == expected


@pytest.mark.parametrize("content,needle", [
    ({"runs": [1, 2]}, "not a law file: expected a fit"),
    ([1, 2], "expected a JSON object"),
    ({"law": "gpt", "params": {"E": 1}}, "unknown law 'gpt'"),
    ({"law": "chinchilla", "params": {"E": 1.7, "A": 400, "B": 400, "alpha": 0.3}}, "is missing beta"),
    ({"E": 1.7, "A": "x", "B": 400, "alpha": 0.3, "beta": 0.3}, "parameter 'A' must be a number"),
    ({"by": ["config"], "groups": [{}, {}]}, "holds 2 fits, one per --by group"),
])
def test_a_law_file_of_another_shape_is_one_line_exit_2(capsys, tmp_path, content, needle):
    path = tmp_path / "law.json"
    path.write_text(json.dumps(content))
    for args in (["predict", "--N", "1e9", "--D", "2e10", "--law-file", str(path)],
                 ["plan", "--flops", "1e22", "--law", str(path)]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1


def test_one_registry_holds_the_planner_names_with_sources():
    from scalinglab.laws.published import PUBLISHED
    assert published_law("chinchilla") == published_law("hoffmann2022") == published_law()
    # Sardana et al. 2023 (arXiv:2401.00448): 70B parameters on 1T tokens → loss 1.9473 with these constants
    assert float(published_law("chinchilla-sardana").predict(N=70e9, D=1e12)) == pytest.approx(1.9473, abs=5e-5)
    assert all(source for _law, source in PUBLISHED.values())
    with pytest.raises(InputError, match="unknown published law 'gpt'"):
        published_law("gpt")


def test_the_planner_takes_a_law_object_not_a_string():
    law = Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.34)
    plan = make_plan(PlanRequest(flops=1e24, law=law))
    # α = β puts tokens per parameter at (B/A)^(1/α)
    assert plan.allocation.tokens_per_param == pytest.approx((410.7 / 406.4) ** (1 / 0.34), rel=1e-6)
    with pytest.raises(InputError, match="the planner takes a Law object, got str"):
        make_plan(PlanRequest(flops=1e24, law="chinchilla"))


def test_report_plans_with_the_fitted_law_object(written):
    from scalinglab.laws.fit import fit
    from scalinglab.report.planning import plan_sections
    files, law = written
    result = fit(files["fit_save"].parent / "runs.csv")
    section = plan_sections(["flops=1e22"], result)[0]
    assert section.result["law"]["params"] == result.law.params()
    assert plan_sections(["flops=1e22,law=besiroglu2024"], result)[0].result["law"]["params"]["E"] == 1.8172


def test_sl_laws_chinchilla_after_import_scalinglab_without_loading_pandas_first():
    code = ("import sys, scalinglab as sl; assert 'pandas' not in sys.modules; "
            "print(sl.laws.Chinchilla.name, sl.laws.published_law('chinchilla').E)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["chinchilla", "1.69"]


def test_law_from_dict_reads_a_fit_result_dict_directly(written):
    files, law = written
    assert law_from_dict(json.loads(files["fit_save"].read_text())) == law
