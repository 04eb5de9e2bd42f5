"""The training configuration: one flat dataclass, filled from a recipe and the command line.

A recipe (``recipes/NAME.toml``) is a flat TOML table whose keys are :class:`TrainConfig`
fields; the command line overrides single fields (``--set lr=0.05`` or the named flags of
``classicnets train``). The resolved configuration is written to every run directory as
``config.toml`` and stored in every checkpoint, so a run can always be reproduced and resumed.

The narrow configurations the data and engine sides take (``data.DataConfig``,
``engine.optim.OptimizerConfig``, ``engine.schedule.LRSchedule``) are built from a
:class:`TrainConfig` here, in one place.

Units: ``epochs`` or ``steps`` bound the run (``steps`` wins when both are set). One *step* is
one optimizer update over a global batch of ``batch_size`` images (all processes together, all
gradient-accumulation micro-batches together). ``schedule_unit`` says whether ``step_size``,
``milestones`` and ``warmup`` count epochs or steps.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from . import preprocessing
from .data import Augmentation, DataConfig
from .engine.optim import OptimizerConfig
from .engine.schedule import LRSchedule
from .errors import ClassicNetsError

# The recipes ship inside the package (package data), so an installed wheel finds them too.
RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


class ConfigError(ClassicNetsError, ValueError):
    """A recipe or an override that cannot be applied."""


@dataclass
class TrainConfig:
    """Everything a training run depends on. Field comments give the unit and the choices."""

    recipe: str = "digits"
    description: str = ""
    # -- model ----------------------------------------------------------------------------------
    model: str = "resnet20"
    model_options: dict[str, Any] = field(default_factory=dict)  # e.g. {drop_rate = 0.2}
    # -- data -----------------------------------------------------------------------------------
    dataset: Literal["digits", "cifar10", "cifar100", "imagefolder"] = "digits"
    data_dir: str | None = None  # folder, or an ImageFolder .tar.gz extracted to a cache
    input_size: int | None = None  # None: the model's (model_info(...).input_size)
    train_subset: int | None = None  # use N training images, evenly spread (quick runs, tests)
    test_subset: int | None = None
    workers: int = 0
    strict: bool = False  # fail on the first unreadable image instead of skipping it
    mean: tuple[float, ...] | None = None  # None: the dataset's
    std: tuple[float, ...] | None = None
    # -- augmentation ---------------------------------------------------------------------------
    train_crop: Literal["none", "pad_crop", "random_resized_crop", "scale_jitter"] = "none"
    crop_padding: int = 4  # pad_crop: pixels of zero padding before the random crop
    rrc_scale: tuple[float, float] = (0.08, 1.0)  # random_resized_crop: area fraction
    rrc_ratio: tuple[float, float] = (0.75, 4 / 3)
    scale_jitter: tuple[int, int] = (256, 480)  # scale_jitter: shorter side range at 224
    hflip: bool = False
    color_jitter: float = 0.0  # brightness/contrast/saturation strength (0: off)
    lighting: float = 0.0  # AlexNet PCA colour augmentation std (0: off; papers use 0.1)
    eval_crop_pct: float = 0.875  # eval: resize shorter side to input/crop_pct, centre crop
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0
    # -- optimisation ---------------------------------------------------------------------------
    epochs: int = 10
    steps: int | None = None  # total optimizer steps; overrides epochs when set
    batch_size: int = 64  # global batch: all processes and accumulation steps together
    grad_accum: int = 1
    optimizer: Literal["sgd", "rmsprop", "adamw"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    rmsprop_decay: float = 0.9
    rmsprop_eps: float = 1.0  # TF-style: added inside the square root
    adamw_betas: tuple[float, float] = (0.9, 0.999)
    label_smoothing: float = 0.0
    aux_loss_weight: float | None = None  # None: the model's aux_loss_weights
    grad_clip_norm: float | None = None
    ema_decay: float | None = None  # parameter averaging (Polyak); evaluation uses the average
    # -- schedule -------------------------------------------------------------------------------
    schedule: Literal["constant", "step", "multistep", "exponential", "cosine", "plateau"] = (
        "cosine"
    )
    schedule_unit: Literal["epoch", "step"] = "epoch"
    step_size: float = 30  # step/exponential: decay every step_size units
    milestones: tuple[float, ...] = ()  # multistep; fractions of the run when all are < 1
    gamma: float = 0.1
    min_lr: float = 0.0  # cosine floor
    plateau_patience: int = 5  # epochs without test-accuracy gain before decaying
    plateau_max_decays: int | None = None  # VGG: 3
    warmup: float = 0  # warm-up length in schedule_unit
    warmup_lr: float = 0.0  # lr at the start of warm-up
    warmup_mode: Literal["linear", "constant"] = "linear"  # constant: ResNet-110's 0.01
    # constant warm-up that ends once the training error over the last warmup_error_window steps
    # is below this fraction (ResNet-110: 0.8); warmup is then the upper bound
    warmup_until_train_error: float | None = None
    warmup_error_window: int = 20  # steps
    # -- speed ----------------------------------------------------------------------------------
    device: str = "auto"  # auto: cuda when available, else cpu
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    threads: int | None = None  # torch.set_num_threads (None: PyTorch's default)
    # keep freed memory in the process (allocator.retain_freed_memory): no page faults per
    # CPU training step (figures: benchmarks/README.md); false hands memory back between steps
    retain_memory: bool = True
    # -- reproducibility and bookkeeping --------------------------------------------------------
    seed: int = 0
    deterministic: bool = True
    run_dir: str | None = None  # None: runs/<model>-<dataset>-<time>
    checkpoint_every: int = 0  # also save last.pt every N steps (0: once per epoch)
    eval_every: int = 1  # epochs
    stop_after: int | None = None  # save and stop after this step, as if interrupted
    quiet: bool = False
    tensorboard: bool = True  # when the tensorboard package is installed

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def data_config(self, input_size: int) -> DataConfig:
        """What the data side needs, for a network taking ``input_size`` images."""
        pre = preprocessing.for_dataset(
            self.dataset, input_size, crop_fraction=self.eval_crop_pct, mean=self.mean, std=self.std
        )
        return DataConfig(
            dataset=self.dataset,
            preprocessing=pre,
            data_dir=self.data_dir,
            strict=self.strict,
            train_subset=self.train_subset,
            test_subset=self.test_subset,
            seed=self.seed,
            augmentation=_pick(Augmentation, self),
        )

    def optimizer_config(self) -> OptimizerConfig:
        return _pick(OptimizerConfig, self)

    def lr_schedule(self, *, total_steps: int, steps_per_epoch: int) -> LRSchedule:
        return LRSchedule(
            kind=self.schedule,
            base_lr=self.lr,
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
            unit=self.schedule_unit,
            step_size=self.step_size,
            milestones=tuple(self.milestones),
            gamma=self.gamma,
            min_lr=self.min_lr,
            warmup=self.warmup,
            warmup_lr=self.warmup_lr,
            warmup_mode=self.warmup_mode,
            patience=self.plateau_patience,
            max_decays=self.plateau_max_decays,
            warmup_until_error=self.warmup_until_train_error,
            warmup_error_window=self.warmup_error_window,
        )

    def to_toml(self) -> str:
        lines = []
        for k, v in self.to_dict().items():
            if v is None:
                lines.append(f"# {k} = (unset)")
            else:
                lines.append(f"{k} = {_toml_value(v)}")
        return "\n".join(lines) + "\n"


_Narrow = typing.TypeVar("_Narrow")


def _pick(cls: type[_Narrow], cfg: TrainConfig) -> _Narrow:
    """A narrow config whose fields are training-config fields of the same names."""
    return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r} to TOML")


_HINTS = typing.get_type_hints(TrainConfig)
FIELDS = {f.name: _HINTS[f.name] for f in dataclasses.fields(TrainConfig)}


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Convert a TOML or command-line value to the field's type, or raise ConfigError."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner[0])
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{name} must be one of {', '.join(map(str, args))}; got {value!r}")
        return value
    if hint is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name} must be true or false; got {value!r}")
        return bool(value)
    if hint in (int, float, str):
        try:
            out = hint(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a {hint.__name__}; got {value!r}") from None
        if hint is int and isinstance(value, float) and value != out:
            raise ConfigError(f"{name} must be an integer; got {value!r}")
        return out
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").split(",") if v.strip()]
        elem = args[0]
        return tuple(_coerce(name, v, elem) for v in value)
    if origin is dict:
        if isinstance(value, str):
            value = tomllib.loads(f"v = {value}")["v"]
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a table such as {{drop_rate = 0.2}}; got {value!r}")
        return dict(value)
    return value


def recipe_path(name_or_path: str) -> Path:
    """``digits`` -> recipes/digits.toml; a path is taken as it is."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise ConfigError(f"recipe file {p} does not exist")
        return p
    candidate = RECIPES_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise ConfigError(
            f"unknown recipe {name_or_path!r}; available: {', '.join(list_recipes())} "
            f"(in {RECIPES_DIR}), or give a path to a .toml file"
        )
    return candidate


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def apply(cfg: TrainConfig, values: dict[str, Any], *, source: str) -> TrainConfig:
    """A copy of ``cfg`` with ``values`` applied, each checked against the field's type."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        import difflib

        hints = [
            f"{u} (did you mean {', '.join(difflib.get_close_matches(u, FIELDS, n=2))}?)"
            if difflib.get_close_matches(u, FIELDS, n=2)
            else u
            for u in unknown
        ]
        raise ConfigError(f"{source}: unknown setting(s) {', '.join(hints)}")
    changes = {k: _coerce(k, v, FIELDS[k]) for k, v in values.items()}
    return dataclasses.replace(cfg, **changes)


def load_recipe(name_or_path: str) -> TrainConfig:
    """The configuration a recipe file defines (unset fields keep the dataclass defaults)."""
    path = recipe_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"recipe {path} is not valid TOML: {e}") from None
    data.setdefault("recipe", path.stem)
    return apply(TrainConfig(), data, source=str(path))


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=0.05", "milestones=0.5,0.75"]`` -> ``{"lr": "0.05", ...}`` (coerced by apply)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like KEY=VALUE, e.g. lr=0.05")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def from_dict(data: dict[str, Any]) -> TrainConfig:
    """A configuration stored in a checkpoint (unknown keys from newer versions are dropped)."""
    known = {k: v for k, v in data.items() if k in FIELDS}
    return apply(TrainConfig(), known, source="checkpoint config")


def resolve(
    recipe: str | None,
    overrides: dict[str, Any],
    *,
    saved: dict[str, Any] | None = None,
) -> TrainConfig:
    """The run's config: a checkpoint's saved config (when resuming) or a recipe, then overrides."""
    if saved is not None:
        base = from_dict(saved)
        if recipe is not None and recipe != base.recipe:
            raise ConfigError(
                f"--recipe {recipe} differs from the resumed run's recipe {base.recipe}; "
                "leave --recipe out when resuming"
            )
    else:
        base = load_recipe(recipe or "digits")
    return apply(base, overrides, source="command line")
