"""The `supernet:` section of a run config, on its own: validating a config must not import torch.

`nas.config` imports it from here, not from the training loop, so a broken config is refused before torch (4-10 s,
400 MB) is loaded.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

MAX_STEPS = 10**9  # far beyond any supernet budget; a bound, so that a trained supernet's card can be checked
# Far beyond any useful rate or threshold, and within what torch's float32 step arithmetic holds (lr 1e39 was a
# RuntimeError inside AdamW, not a refusal); a rate that merely diverges is stopped by training, in one line.
MAX_RATE = 1e6


class SupernetTrainConfig(BaseModel):
    """How to train a supernet; the `supernet:` section of a run config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Literal["causal_lm", "classification"] = "causal_lm"
    data: str = Field("builtin", description="builtin | a local file | hf:NAME[:CONFIG] | hf:LOCAL_FOLDER")
    tokenizer: str | None = Field(None, description="path of a transformers tokenizer; default: bytes")
    init_from: str | None = Field(None, description="a BERT checkpoint folder that becomes the largest sub-network "
                                  "(classification; the space's largest must have its shape)")
    steps: int = Field(300, ge=1, le=MAX_STEPS)
    batch_size: int = Field(16, ge=1)
    seq_len: int = Field(128, ge=2)
    lr: float = Field(1e-3, gt=0, le=MAX_RATE)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    warmup_steps: int = Field(30, ge=0)
    weight_decay: float = Field(0.01, ge=0, le=1)
    grad_clip: float = Field(1.0, gt=0, le=MAX_RATE)
    sandwich_random: int = Field(2, ge=0, description="random sub-networks per step besides largest and smallest")
    distill: float = Field(0.0, ge=0, le=1, description="weight of in-place distillation from the largest in the "
                           "other members' loss (the rest is the task loss); 0 trains every member on the labels")
    distill_after: int = Field(0, ge=0, description="steps before distillation starts (the teacher is no help "
                               "while it is itself untrained); 0: from the first step")
    distill_divergence: Literal["kl", "alpha"] = Field(
        "kl", description="what distillation minimises: kl (KL from the largest's predictions) or alpha "
        "(AlphaNet's adaptive alpha-divergence, alpha -1 and +1)")
    sampling: Literal["uniform", "by_size"] = Field(
        "uniform", description="how the random members are drawn: uniformly from the space, or by_size (each from "
        "the next of four bands of log parameter count in turn, as ElasticViT's complexity-aware sampling)")
    checkpoint_every: int = Field(50, ge=1)
    seed: int = Field(0, ge=0, le=2**32 - 1, description="0 to 2^32 - 1")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    eval_windows: int = Field(64, ge=1, description="validation windows (or examples) per evaluation")

    ADDED_LATER: ClassVar[tuple[str, ...]] = ("distill_after", "sampling", "distill_divergence")

    @field_validator("distill_after")
    @classmethod
    def _distillation_starts_before_the_end(cls, value: int, info: ValidationInfo) -> int:
        """Distillation that would start at or after the last step never happens: the run would be a
        labels-only run recorded as a distilled one."""
        steps = info.data.get("steps")
        if steps is not None and value >= steps:
            raise ValueError(f"{value} is not below steps ({steps}): distillation would never start; lower "
                             "distill_after, or remove distill")
        return value

    @model_validator(mode="after")
    def _distillation_settings_need_distillation(self) -> "SupernetTrainConfig":
        """A distillation setting without distillation trains nothing differently but would count as another
        run's settings (refusing to resume an identical one), so it is refused."""
        for name, idle in (("distill_after", 0), ("distill_divergence", "kl")):
            if self.distill == 0 and getattr(self, name) != idle:
                raise ValueError(f"{name}: has no effect without distill > 0 (set distill, or remove {name})")
        return self

    def identity(self) -> dict:
        """The training settings as a run's stage fingerprint and a checkpoint record them. A setting added after
        runs were first recorded is left out while it is at its default, so those runs and their checkpoints
        stay valid; set to anything else, it counts."""
        return self.without_idle_later(self.model_dump())

    @classmethod
    def without_idle_later(cls, settings: dict) -> dict:
        """`settings` (a record of these settings, old or new) less those added later that sit at their default:
        a record that still holds one at its default means the same training as one that leaves it out."""
        return {name: value for name, value in settings.items()
                if not (name in cls.ADDED_LATER and value == cls.model_fields[name].default)}


PATH_KEYS = ("data", "tokenizer", "init_from")


def resolve_paths(cfg: SupernetTrainConfig, base: str | Path) -> SupernetTrainConfig:
    """`cfg` with `data`, `tokenizer` and `init_from` made absolute: relative to `base` (the folder of the config
    file that names them) when they exist there, else to the current directory, as the config check accepts them.
    Without this a run started from another directory, or a fine-tune of an export, reads other files or none."""
    base = Path(base)
    updates = {}
    for key in PATH_KEYS:
        value = getattr(cfg, key)
        if not value or value in ("builtin", "bytes"):
            continue
        prefix, name = ("hf:", value[3:]) if value.startswith("hf:") else ("", value)
        for candidate in (base / name, Path(name)):
            if candidate.exists():
                updates[key] = prefix + str(candidate.resolve())
                break
    return cfg.model_copy(update=updates)
