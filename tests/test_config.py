"""Config presets, file round trips, overrides, diffs and the `config` CLI."""

from __future__ import annotations

import json
import re

import pytest

from seqsetvae.cli import main
from seqsetvae.config import (
    ConfigError,
    apply_overrides,
    diff_configs,
    load_config,
    preset,
    save_config,
)

# the seed guide's table of the three configurations, verbatim
TABLE = {
    "lr": (5e-5, 1e-5, 5e-6),
    "beta": (0.1, 0.01, 0.01),
    "free_bits": (0.03, 0.1, 0.1),
    "transformer_layers": (4, 2, 2),
    "transformer_heads": (8, 4, 4),
    "ff_dim": (512, 256, 256),
    "gradient_clip_val": (0.2, 1.0, 1.0),
    "weight_decay": (0.03, 0.01, 0.01),
    "early_stopping_patience": (8, 15, 15),
    "gradient_accumulation_steps": (4, 4, 8),
    "use_focal_loss": (True, True, False),
    "levels": (2, 2, 2),
    "latent_dim": (256, 256, 256),
    "model_dim": (256, 256, 256),
}


@pytest.mark.parametrize("column, name", enumerate(["baseline", "optimized", "conservative"]))
def test_presets_match_the_design_table(column, name):
    flat = preset(name).to_flat()
    for key, values in TABLE.items():
        assert flat[key] == values[column], (name, key)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_save_and_load_round_trip(tmp_path, suffix):
    cfg = preset("conservative").replace(lr=3e-4, precision="bf16")
    save_config(cfg, tmp_path / f"c{suffix}")
    assert load_config(tmp_path / f"c{suffix}") == cfg


def test_toml_file_may_start_from_a_preset(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('preset = "optimized"\n[optim]\nlr = 2e-5\n')
    cfg = load_config(path)
    assert cfg.optim.lr == 2e-5 and cfg.loss.beta == 0.01


def test_overrides_are_type_checked_and_unknown_keys_named():
    cfg = apply_overrides(preset("baseline"), ["lr=1e-3", "use_focal_loss=false", "levels=3"])
    assert (cfg.optim.lr, cfg.loss.use_focal_loss, cfg.model.levels) == (1e-3, False, 3)
    with pytest.raises(ConfigError, match="'lrr'"):
        apply_overrides(cfg, ["lrr=1"])
    with pytest.raises(ConfigError, match="levels: expected int"):
        apply_overrides(cfg, ["levels=2.5"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(cfg, ["lr"])


def test_bad_files_are_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = = 1")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(bad)
    with pytest.raises(ConfigError, match="neither a preset"):
        load_config(tmp_path / "missing.json")


def test_diff_lists_exactly_the_changed_fields():
    lines = diff_configs(preset("baseline"), preset("optimized"), ("baseline", "optimized"))
    changed = {line.split()[0] for line in lines[1:]}
    assert changed == {k for k, v in TABLE.items() if v[0] != v[1]}
    assert any(line.split() == ["lr", "5e-05", "->", "1e-05"] for line in lines)
    assert diff_configs(preset("baseline"), preset("baseline")) == []


def test_cli_config_show_json_uses_the_table_names(capsys):
    assert main(["config", "show", "optimized", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    for key, values in TABLE.items():
        assert shown[key] == values[1]
    assert main(["config", "show", "baseline", "--set", "nope=1"]) == 2
    assert "'nope'" in capsys.readouterr().err


def test_cli_config_diff(capsys):
    assert main(["config", "diff", "optimized", "conservative"]) == 0
    out = capsys.readouterr().out
    assert "gradient_accumulation_steps" in out and "use_focal_loss" in out and "beta" not in out


@pytest.mark.parametrize("item, message", [
    ("lr=-1", "lr: must be >= 0, got -1.0"), ("batch_size=0", "batch_size: must be >= 1"),
    ("dropout=1", "dropout: must be in [0, 1)"), ("focal_alpha=1.5", "focal_alpha: must be in"),
    ("precision=fp8", "precision: must be one of fp32, bf16, fp16"),
    ("lr=NaN", "lr: must be a finite number"), ("logvar_bound=0", "logvar_bound: must be > 0"),
    ("model_dim=33", "model_dim 33 is not divisible by set_heads 4"),
])
def test_out_of_range_values_are_refused_naming_the_key(item, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        apply_overrides(preset("optimized"), [item])


def test_range_boundaries_are_accepted_and_files_are_named(tmp_path):
    cfg = apply_overrides(preset("optimized"), ["lr=0", "dropout=0", "focal_alpha=1",
                                                "gradient_clip_val=0", "min_lr_ratio=1"])
    assert cfg.optim.lr == 0.0 and cfg.loss.focal_alpha == 1.0
    bad = tmp_path / "neg.toml"
    bad.write_text("[optim]\nbatch_size = -4\n")
    with pytest.raises(ConfigError, match=re.escape(f"{bad}: batch_size: must be >= 1")):
        load_config(bad)
    for name, content in (("empty.toml", ""), ("binary.toml", b"\xff\xfe\x00")):
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(ConfigError, match=re.escape(str(path))):
            load_config(path)
