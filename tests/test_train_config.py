"""Run configs: bad values raise a one-line InputError; configs round-trip through dicts; defaults follow N."""

import math

import pytest

from scalinglab.errors import InputError
from scalinglab.train.config import DataConfig, ModelConfig, TrainConfig
from scalinglab.train.hparams import default_batch_tokens, default_lr
from scalinglab.train.schedule import plan_run


@pytest.mark.parametrize("kwargs,message", [
    (dict(n_layer=-1, n_head=2, d_model=32), "n_layer must be >= 1"),
    (dict(n_layer=2, n_head=3, d_model=32), "divisible by n_head"),
    (dict(n_layer=2, n_head=2, d_model=0), "d_model must be >= 1"),
    (dict(n_layer=2, n_head=2, d_model=32, seq_len=-256), "seq_len must be >= 1"),
    (dict(n_layer=2, n_head=2, d_model=32, positions="alibi"), "unknown positions 'alibi'"),
    (dict(n_layer=2, n_head=2, d_model=32.5), "d_model must be an integer"),
    (dict(n_layer=2, n_head=6, d_model=18, positions="rotary"), "even head size"),
])
def test_bad_model_config(kwargs, message):
    with pytest.raises(InputError, match=message) as err:
        ModelConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_bad_data_config(tmp_path):
    with pytest.raises(InputError, match="unknown tokenizer 'sentencepiece'"):
        DataConfig(tokenizer="sentencepiece")
    with pytest.raises(InputError, match="data path does not exist"):
        DataConfig(corpus=str(tmp_path / "missing.txt"))
    with pytest.raises(InputError, match="val_fraction"):
        DataConfig(val_fraction=0.0)


def test_bad_train_config():
    model = ModelConfig(n_layer=2, n_head=2, d_model=32)
    for kwargs, message in [(dict(n_tokens=-5), "n_tokens must be >= 1"), (dict(batch_size=0), "batch_size"),
                            (dict(lr=-1e-3), "lr must be in"), (dict(device="tpu"), "unknown device"),
                            (dict(data=DataConfig(tokenizer="gpt2")), "vocab_size")]:
        with pytest.raises(InputError, match=message):
            TrainConfig(model=model, **kwargs)


def test_round_trip_through_dict():
    cfg = TrainConfig(model=ModelConfig(n_layer=3, n_head=4, d_model=64, positions="rotary", vocab_size=1024),
                      data=DataConfig(tokenizer="bpe", bpe_vocab_size=1024), n_tokens=12345, lr=1e-3, seed=7)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InputError, match="unknown train config field"):
        TrainConfig.from_dict({**cfg.to_dict(), "learning_rate": 1.0})


def test_default_lr_and_batch_are_the_documented_rules():
    # LR(N) = 0.103 N^-0.230, fitted by benchmarks/hparam_sweep.py on the default corpus; its per-size optima were
    # 0.0139 at 6,304 and 0.0067 at 154,400 non-embedding parameters (rule within 2 % of both).
    assert default_lr(6_304) == pytest.approx(0.0139, rel=0.02)
    assert default_lr(154_400) == pytest.approx(0.0067, rel=0.02)
    assert math.isclose(default_lr(2e5) / default_lr(1e5), 2 ** -0.230)
    # DeepSeek LLM B_opt = 0.292 C^0.3271 at C = 6 N (20 N): grows as N^0.654
    assert math.isclose(default_batch_tokens(2e6) / default_batch_tokens(1e6), 2 ** (2 * 0.3271))
    cfg = TrainConfig(model=ModelConfig(n_layer=4, n_head=4, d_model=128), n_tokens=10_000_000)
    plan = plan_run(cfg)
    assert plan.batch_size == round(default_batch_tokens(788_736) / 256) and plan.lr == default_lr(788_736)
    # Warm-up defaults to 10 % of the run's own steps (2 % let the swept LRs diverge early; see hparams.py).
    assert plan.warmup_steps == math.ceil(0.1 * plan.n_steps)


def test_schedule_warms_up_then_decays_to_min_lr_over_the_run_itself():
    cfg = TrainConfig(model=ModelConfig(n_layer=2, n_head=2, d_model=32), n_tokens=100 * 8 * 256, batch_size=8,
                      lr=1e-3, warmup_fraction=0.1, min_lr_ratio=0.1)
    plan = plan_run(cfg)
    assert plan.n_steps == 100 and plan.warmup_steps == 10
    lrs = [plan.lr_at(s) for s in range(plan.n_steps)]
    assert lrs[9] == 1e-3 and all(a < b for a, b in zip(lrs[:9], lrs[1:10]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert math.isclose(lrs[-1], 1e-4) and math.isclose(lrs[10 + 89 // 2], 5.5e-4, rel_tol=0.02)
