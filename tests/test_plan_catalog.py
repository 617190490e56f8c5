"""Accelerator catalog: built-in entries with sources, user YAML, name lookup."""

import pytest

from scalinglab.errors import InputError
from scalinglab.plan.catalog import get_accelerator, load_catalog

REQUIRED = ["h100-sxm", "h100-pcie", "h200", "b200", "a100-40gb", "a100-80gb", "mi300x", "tpu-v5e", "tpu-v5p"]


def test_catalog_covers_the_required_devices_each_with_a_source():
    catalog = load_catalog()
    for name in REQUIRED:
        acc = catalog[name]
        assert acc.source and acc.bf16_flops > 1e13 and acc.memory_bytes >= 16e9
    for name in ("h100-sxm", "h100-pcie", "h200", "b200", "mi300x"):  # devices with FP8 tensor cores
        assert catalog[name].fp8_flops == pytest.approx(2 * catalog[name].bf16_flops, rel=0.01)


def test_h100_sxm_datasheet_figures():
    # NVIDIA H100 datasheet (SXM): 1,979 TFLOPS BF16 with sparsity = 989.4 dense; 80 GB; 3.35 TB/s; 700 W.
    h100 = get_accelerator("H100")
    assert (h100.name, h100.bf16_flops, h100.memory_bytes, h100.board_watts) == ("h100-sxm", 989.4e12, 80e9, 700)
    assert h100.peak_flops("fp8") == 1978.9e12
    with pytest.raises(InputError, match="FP8"):
        get_accelerator("a100").peak_flops("fp8")


def test_unknown_name_suggests_close_ones():
    with pytest.raises(InputError, match="did you mean .*h100") as err:
        get_accelerator("h1OO")
    assert "\n" not in str(err.value)


def test_user_yaml_adds_and_overrides(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("gaudi3:\n  bf16_flops: 1835e12\n  memory_bytes: 128e9\n  board_watts: 900\n"
                    "  source: vendor sheet\nh100-sxm:\n  price_per_hour_usd: 1.85\n")
    catalog = load_catalog(path)
    assert get_accelerator("GAUDI3", catalog).memory_bytes == 128e9
    h100 = get_accelerator("h100", catalog)  # an override changes only the fields it lists
    assert (h100.price_per_hour_usd, h100.bf16_flops, h100.board_watts) == (1.85, 989.4e12, 700)
    assert "tpu-v5p" in catalog


@pytest.mark.parametrize("text, message", [
    ("x:\n  bf16_flops: 1e12\n", "missing 'memory_bytes'"),
    ("x:\n  bf16_flops: -1\n  memory_bytes: 1e9\n", "> 0"),
    ("x:\n  bf16_flops: 1e12\n  memory_bytes: 1e9\n  tflops: 3\n", "unknown field"),
    ("x: [1, 2\n", "YAML"),
])
def test_bad_user_yaml_is_one_line_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        load_catalog(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
