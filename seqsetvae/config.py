"""Configuration: three dataclass sections, the seed guide's presets, file I/O, overrides, diffs.

Every field changes the computation (tests/test_config_fields.py proves it field by field); the
original code silently ignored `beta` and `weight_decay`, which is why that matters here.
Field names are unique across sections so a flat view (``to_flat``) is unambiguous and matches the
seed guide's names (``lr``, ``beta``, ``free_bits`` ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import InputError
from .fileio import atomic_write_text


class ConfigError(InputError):
    """A config file, preset name or override that cannot be used; the message names the key."""


@dataclass
class ModelConfig:
    model_dim: int = 256  # width of the set encoder and the causal transformer
    latent_dim: int = 256  # size of each set's posterior z_t
    levels: int = 2  # stacked induced-set-attention blocks in the set encoder
    num_inducing: int = 16  # inducing points m per ISAB block
    set_heads: int = 4  # attention heads inside the set encoder
    transformer_layers: int = 4
    transformer_heads: int = 8
    ff_dim: int = 512
    dropout: float = 0.1
    logvar_bound: float = 6.0  # soft bound: logvar = b * tanh(raw / b)
    time_scale_minutes: float = 60.0  # time enters as log1p(minute / scale)


@dataclass
class LossConfig:
    beta: float = 0.1  # maximum KL weight
    free_bits: float = 0.03  # nats per latent dimension (batch-averaged KL)
    beta_warmup_steps: int = 100  # optimizer steps to ramp beta from 0 to its maximum
    use_focal_loss: bool = True  # else binary cross-entropy
    focal_alpha: float = 0.25  # weight of the positive class (1 - alpha for the negative)
    focal_gamma: float = 2.0
    recon_weight: float = 1.0
    cls_weight: float = 1.0
    recon_clip: float = 5.0  # z-scored targets are clipped to +-recon_clip before the Huber loss


@dataclass
class OptimConfig:
    lr: float = 5e-5
    weight_decay: float = 0.03
    gradient_clip_val: float = 0.2  # global L2 norm; 0 disables clipping
    gradient_accumulation_steps: int = 4
    warmup_steps: int = 50  # linear LR warm-up in optimizer steps, then cosine decay
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of lr
    early_stopping_patience: int = 8
    batch_size: int = 4
    max_epochs: int = 2
    precision: str = "fp32"  # fp32 | bf16 | fp16 (fp16 needs CUDA)
    nonfinite_patience: int = 5  # consecutive skipped steps before the run stops


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    # -- flat view -------------------------------------------------------------------------
    def sections(self) -> dict[str, Any]:
        return {"model": self.model, "loss": self.loss, "optim": self.optim}

    def to_flat(self) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for section in self.sections().values():
            flat.update(dataclasses.asdict(section))
        return flat

    def to_nested(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(sec) for name, sec in self.sections().items()}

    def replace(self, **updates: Any) -> Config:
        """A copy with flat keys changed, each type- and range-checked like a CLI override."""
        new = Config.from_flat(self.to_flat())
        for key, value in updates.items():
            section, name = _locate(new, key)
            setattr(section, name, _checked(key, name, value, _field_type(section, name)))
        _check_heads(new, "override" if updates else "config")
        return new

    @classmethod
    def from_flat(cls, flat: dict[str, Any], source: str = "config") -> Config:
        cfg = cls()
        for key, value in flat.items():
            section, name = _locate(cfg, key, source)
            setattr(section, name, _checked(f"{source}: {key}", name, value,
                                            _field_type(section, name)))
        _check_heads(cfg, source)
        return cfg


PRESETS: dict[str, dict[str, Any]] = {
    # The seed guide's three configurations, field for field (tests/test_config.py holds its table).
    "baseline": {},
    "optimized": dict(
        lr=1e-5, beta=0.01, free_bits=0.1, transformer_layers=2, transformer_heads=4, ff_dim=256,
        gradient_clip_val=1.0, weight_decay=0.01, early_stopping_patience=15,
        gradient_accumulation_steps=4,
    ),
    "conservative": dict(
        lr=5e-6, beta=0.01, free_bits=0.1, transformer_layers=2, transformer_heads=4, ff_dim=256,
        gradient_clip_val=1.0, weight_decay=0.01, early_stopping_patience=15,
        gradient_accumulation_steps=8, use_focal_loss=False,
    ),
}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return Config.from_flat(PRESETS[name], source=f"preset {name}")


def load_config(spec: str | Path) -> Config:
    """A preset name, or a .toml / .json file holding flat keys or [model]/[loss]/[optim] tables."""
    if str(spec) in PRESETS:
        return preset(str(spec))
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"{spec}: neither a preset ({', '.join(PRESETS)}) nor a readable file")
    if path.suffix not in (".toml", ".json"):
        raise ConfigError(f"{path}: config files must end in .toml or .json")
    try:
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: unreadable ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a table/object")
    if not data:  # an empty file would silently mean the baseline preset
        raise ConfigError(f"{path}: holds no settings; name a preset, or set `preset = ...`")
    flat: dict[str, Any] = {}
    base = data.pop("preset", None)
    for key, value in data.items():
        if isinstance(value, dict) and key in ("model", "loss", "optim"):
            flat.update(value)
        else:
            flat[key] = value
    cfg = preset(base) if base else Config()
    for key in flat:
        _locate(cfg, key, str(path))
    try:
        return cfg.replace(**flat)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save_config(cfg: Config, path: str | Path) -> None:
    path = Path(path)
    if path.suffix == ".toml":
        lines = []
        for name, values in cfg.to_nested().items():
            lines.append(f"[{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
            lines.append("")
        text = "\n".join(lines)
    else:
        text = json.dumps(cfg.to_flat(), indent=2) + "\n"
    atomic_write_text(path, text)


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``key=value`` strings (CLI ``--set``); values are parsed as JSON, else kept as text."""
    updates: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        updates[key.strip()] = value
    return cfg.replace(**updates)


def diff_configs(a: Config, b: Config, names: tuple[str, str] = ("a", "b")) -> list[str]:
    """One line per differing field: ``lr: 5e-05 -> 1e-05``; empty when identical."""
    fa, fb = a.to_flat(), b.to_flat()
    width = max(len(k) for k in fa)
    lines = [f"{'field':<{width}}  {names[0]} -> {names[1]}"]
    lines += [f"{k:<{width}}  {fa[k]!r} -> {fb[k]!r}" for k in fa if fa[k] != fb[k]]
    return lines if len(lines) > 1 else []


# -- helpers -------------------------------------------------------------------------------------
def _locate(cfg: Config, key: str, source: str = "override") -> tuple[Any, str]:
    section_name, _, name = key.rpartition(".")
    sections = cfg.sections()
    candidates = [sections[section_name]] if section_name in sections else sections.values()
    for section in candidates:
        if name in {f.name for f in fields(section)}:
            return section, name
    known = ", ".join(sorted(cfg.to_flat()))
    raise ConfigError(f"{source}: unknown config key {key!r}; known keys: {known}")


def _field_type(section: Any, name: str) -> type:
    return type(getattr(type(section)(), name))


def _coerce(key: str, value: Any, typ: type) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif typ is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{key}: expected {typ.__name__}, got {value!r}")


# What each numeric field accepts beyond its type. A value outside would crash a run later with
# an unrelated message (a zero batch size, heads that do not divide the width) or make it
# meaningless (a negative learning rate, dropout 1), so it is refused where it is set.
AT_LEAST = {
    **dict.fromkeys(("model_dim", "latent_dim", "num_inducing", "set_heads", "transformer_heads",
                     "ff_dim", "gradient_accumulation_steps", "batch_size", "max_epochs",
                     "early_stopping_patience", "nonfinite_patience"), 1),
    **dict.fromkeys(("levels", "transformer_layers", "beta", "free_bits", "beta_warmup_steps",
                     "focal_gamma", "recon_weight", "cls_weight", "lr", "weight_decay",
                     "gradient_clip_val", "warmup_steps"), 0),
}
POSITIVE = ("logvar_bound", "time_scale_minutes", "recon_clip")
FRACTIONS = {"dropout": "[0, 1)", "focal_alpha": "[0, 1]", "min_lr_ratio": "[0, 1]"}
PRECISIONS = ("fp32", "bf16", "fp16")  # every place that offers a precision reads this
CHOICES = {"precision": PRECISIONS}


def _checked(key: str, name: str, value: Any, typ: type) -> Any:
    value = _coerce(key, value, typ)
    problem = _range_problem(name, value)
    if problem:
        raise ConfigError(f"{key}: {problem}, got {value!r}")
    return value


def _range_problem(name: str, value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if name in AT_LEAST and value < AT_LEAST[name]:
        return f"must be >= {AT_LEAST[name]}"
    if name in POSITIVE and value <= 0:
        return "must be > 0"
    if name in FRACTIONS:
        closed = FRACTIONS[name].endswith("]")
        if not (0 <= value <= 1) or (value == 1 and not closed):
            return f"must be in {FRACTIONS[name]}"
    if name in CHOICES and value not in CHOICES[name]:
        return f"must be one of {', '.join(CHOICES[name])}"
    return None


def _check_heads(cfg: Config, source: str) -> None:
    """Attention splits model_dim evenly across heads."""
    m = cfg.model
    for heads in ("set_heads", "transformer_heads"):
        if m.model_dim % getattr(m, heads):
            raise ConfigError(f"{source}: model_dim {m.model_dim} is not divisible by {heads} "
                              f"{getattr(m, heads)}")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    return repr(v)
