"""The training configuration: one flat dataclass, filled from a recipe and the command line.

A recipe (``recipes/NAME.toml``) is a flat TOML table whose keys are :class:`TrainConfig`
fields; the command line overrides single fields (``--set lr=0.05`` or the named flags of
``classicnets train``). The resolved configuration is written to every run directory as
``config.toml`` and stored in every checkpoint, so a run can always be reproduced and resumed.
A ``data_dir`` selects its dataset when neither a recipe nor the command line names one, and is
refused when the one named cannot read it (:func:`select_dataset`).

The narrow configurations the data and training sides take (``data.DataConfig``,
``training.optim.OptimizerConfig``, ``training.schedule.LRSchedule``) are built from a
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .. import preprocessing
from ..data import LAYOUTS, Augmentation, CacheMode, DataConfig, FolderContents, inspect_data_dir
from ..data.transforms import CropKind
from ..errors import ClassicNetsError
from ..runtime.device import Precision
from .optim import OptimizerConfig, OptimizerName
from .schedule import LRSchedule, ScheduleKind, ScheduleUnit, WarmupMode
from .settings_help import HELP

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
    workers: int | None = None  # None: 0 for splits held in memory, else half the cores (<= 8)
    # decode the images once and keep them in memory (classicnets.data.memory): "auto" does it
    # for digits, CIFAR and folders that fit, "memory" always, "off" streams from the files
    data_cache: CacheMode = "auto"
    strict: bool = False  # fail on the first unreadable image instead of skipping it
    mean: tuple[float, ...] | None = None  # None: the dataset's
    std: tuple[float, ...] | None = None
    # -- augmentation ---------------------------------------------------------------------------
    train_crop: CropKind = "none"
    crop_padding: int = 4  # pad_crop: pixels of zero padding before the random crop
    rrc_scale: tuple[float, float] = (0.08, 1.0)  # random_resized_crop: area fraction
    rrc_ratio: tuple[float, float] = (0.75, 4 / 3)
    scale_jitter: tuple[int, int] = (256, 480)  # scale_jitter: shorter side range at 224
    hflip: bool = False
    color_jitter: float = 0.0  # brightness/contrast/saturation strength (0: off)
    lighting: float = 0.0  # AlexNet PCA colour augmentation std (0: off; papers use 0.1)
    # eval: resize the shorter side to input/crop_pct, centre crop (None: the weights', or 0.875)
    eval_crop_pct: float | None = None
    interpolation: str | None = None  # resize filter (None: the weights', or bilinear)
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0
    # -- fine-tuning (classicnets.training.finetune) --------------------------------------------
    # registered weights (resnet50_v1_5.tv_in1k), a weights file or a run directory of ours; the
    # classifier is replaced for the dataset's classes and the preprocessing follows the weights
    pretrained: str | None = None
    freeze: str = "none"  # none, stem, N (the stem and N stages after it), backbone
    freeze_bn: bool = False  # batch-norm statistics fixed while the weights train
    head_lr_scale: float = 1.0  # the classifier's learning rate relative to the base lr
    layer_decay: float = 1.0  # lr scale layer_decay**depth from the head down (1: off)
    norm_weight_decay: float | None = None  # weight decay of biases and norm weights (None: same)
    # -- optimisation ---------------------------------------------------------------------------
    epochs: int = 10
    steps: int | None = None  # total optimizer steps; overrides epochs when set
    batch_size: int = 64  # global batch: all processes and accumulation steps together
    grad_accum: int = 1
    optimizer: OptimizerName = "sgd"
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
    schedule: ScheduleKind = "cosine"
    schedule_unit: ScheduleUnit = "epoch"
    step_size: float = 30  # step/exponential: decay every step_size units
    milestones: tuple[float, ...] = ()  # multistep; fractions of the run when all are < 1
    gamma: float = 0.1
    min_lr: float = 0.0  # cosine floor
    plateau_patience: int = 5  # epochs without test-accuracy gain before decaying
    plateau_max_decays: int | None = None  # VGG: 3
    warmup: float = 0  # warm-up length in schedule_unit
    warmup_lr: float = 0.0  # lr at the start of warm-up
    warmup_mode: WarmupMode = "linear"  # constant: ResNet-110's 0.01
    # constant warm-up that ends once the training error over the last warmup_error_window steps
    # is below this fraction (ResNet-110: 0.8); warmup is then the upper bound
    warmup_until_train_error: float | None = None
    warmup_error_window: int = 20  # steps
    # -- speed ----------------------------------------------------------------------------------
    device: str = "auto"  # auto: cuda when available, else cpu
    precision: Precision = "fp32"
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
    report: bool = True  # report.html at the end of the run (classicnets report)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def data_config(
        self, input_size: int, weights: preprocessing.Preprocessing | None = None
    ) -> DataConfig:
        """What the data side needs, for a network taking ``input_size`` images; ``weights``:
        the pretrained weights' preprocessing, which fills what the config leaves unset."""
        crop = self.eval_crop_pct
        if crop is None:
            crop = weights.input_size / weights.resize_size if weights is not None else 0.875
        pre = preprocessing.for_dataset(
            self.dataset,
            input_size,
            crop_fraction=crop,
            mean=self.mean or (weights.mean if weights is not None else None),
            std=self.std or (weights.std if weights is not None else None),
            interpolation=self.interpolation or (weights.interpolation if weights else "bilinear"),
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
            cache=self.data_cache,
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


#: Names people reach for, mapped to the setting (``--set learning_rate=...``).
ALIASES: dict[str, str] = {
    "learning_rate": "lr",
    "num_epochs": "epochs",
    "batch": "batch_size",
    "bs": "batch_size",
    "wd": "weight_decay",
    "image_size": "input_size",
    "img_size": "input_size",
    "num_workers": "workers",
    "crop_pct": "eval_crop_pct",
    "lr_schedule": "schedule",
    "scheduler": "schedule",
    "opt": "optimizer",
    "max_steps": "steps",
    "warmup_epochs": "warmup",
    "data": "data_dir",
    "arch": "model",
    "weights": "pretrained",
}


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


_KIND = {int: "a whole number", float: "a number", str: "text"}


def _hint(name: str) -> str:
    return " (for part of an epoch, set steps instead)" if name == "epochs" else ""


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
            raise ConfigError(f"{name} must be {_KIND[hint]}; got {value!r}{_hint(name)}") from None
        if hint is int and isinstance(value, float) and value != out:
            raise ConfigError(f"{name} must be a whole number; got {value!r}{_hint(name)}")
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
        import difflib

        close = difflib.get_close_matches(name_or_path, list_recipes(), n=3)
        guess = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise ConfigError(
            f"unknown recipe {name_or_path!r}{guess}; available: {', '.join(list_recipes())} "
            f"(in {RECIPES_DIR}), or give a path to a .toml file"
        )
    return candidate


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def _unknown_setting(name: str) -> str:
    """``name`` with the settings it may have meant (typos, other libraries' names)."""
    import difflib

    if name == "num_classes":
        return (
            "num_classes (the classifier always has one output per class folder of the "
            "dataset; pretrained weights with other classes get a new classifier)"
        )
    known = {**{k: k for k in FIELDS}, **ALIASES}
    guesses = dict.fromkeys(known[m] for m in difflib.get_close_matches(name, known, n=3))
    return f"{name} (did you mean {' or '.join(guesses)}?)" if guesses else name


def apply(cfg: TrainConfig, values: dict[str, Any], *, source: str) -> TrainConfig:
    """A copy of ``cfg`` with ``values`` applied, each checked against the field's type.
    Common other names (:data:`ALIASES`, e.g. ``learning_rate``) are taken for the setting."""
    values = {ALIASES.get(k, k): v for k, v in values.items()}
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting(s) {', '.join(map(_unknown_setting, unknown))}; "
            "`classicnets train --list-settings` lists them all"
        )
    changes = {k: _coerce(k, v, FIELDS[k]) for k, v in values.items()}
    return dataclasses.replace(cfg, **changes)


#: Settings that must be at least this value.
_MINIMUM = {
    "epochs": 0,
    "steps": 1,
    "batch_size": 1,
    "grad_accum": 1,
    "workers": 0,
    "eval_every": 1,
    "checkpoint_every": 0,
    "crop_padding": 0,
    "warmup": 0,
    "lr": 0.0,
    "head_lr_scale": 0.0,
    "layer_decay": 0.0,
    "train_subset": 1,
    "test_subset": 1,
    "threads": 1,
}


def validate(cfg: TrainConfig) -> None:
    """Refuse values no run can use, in one line naming the setting (before anything runs)."""
    for name, low in _MINIMUM.items():
        value = getattr(cfg, name)
        if value is not None and value < low:
            raise ConfigError(f"{name} must be at least {low}; got {value}")
    if cfg.eval_crop_pct is not None and not 0 < cfg.eval_crop_pct <= 1:
        raise ConfigError(f"eval_crop_pct must be in (0, 1]; got {cfg.eval_crop_pct}")
    if cfg.batch_size % cfg.grad_accum:
        raise ConfigError(
            f"batch_size {cfg.batch_size} must be a multiple of grad_accum {cfg.grad_accum}"
        )


def describe_settings() -> str:
    """Every setting with its type, default and help (``classicnets train --list-settings``)."""
    from ..runtime.table import format_table

    defaults = TrainConfig().to_dict()
    rows = [
        [
            name,
            _type_name(hint),
            "(unset)" if defaults[name] is None else str(defaults[name]),
            HELP[name],
        ]
        for name, hint in FIELDS.items()
    ]
    aliases = ", ".join(f"{a} = {k}" for a, k in ALIASES.items())
    return format_table(["setting", "type", "default", "help"], rows) + f"\naliases: {aliases}"


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "|".join(map(str, args))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin is tuple:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return "table"
    return getattr(hint, "__name__", str(hint))


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
    log: Callable[[str], None] | None = None,
) -> TrainConfig:
    """The run's config: a checkpoint's saved config (when resuming) or a recipe, then overrides;
    a ``data_dir`` that nothing chose a dataset for selects one (:func:`select_dataset`), said
    through ``log``."""
    overrides = {ALIASES.get(k, k): v for k, v in overrides.items()}
    chosen_by = None  # who chose the dataset: nobody, when no recipe names one
    if saved is not None:
        base = from_dict(saved)
        if recipe is not None and recipe != base.recipe:
            raise ConfigError(
                f"--recipe {recipe} differs from the resumed run's recipe {base.recipe}; "
                "leave --recipe out when resuming"
            )
        chosen_by = f"the resumed run (dataset = {base.dataset})"
    elif recipe is None and _leaves_digits(apply(TrainConfig(), overrides, source="command line")):
        # the digits demo's settings (16x16 input, 1-pixel shifts...) are for the digits and
        # ResNet-20 only: another dataset, model, data folder or pretrained weights start from
        # the defaults
        base = TrainConfig(recipe="defaults", description="no recipe: the settings' defaults")
    else:
        base = load_recipe(recipe or "digits")
        chosen_by = f"recipe {base.recipe} (dataset = {base.dataset})"
    cfg = apply(base, overrides, source="command line")
    if "dataset" in overrides:
        chosen_by = f"--dataset {cfg.dataset}"
    cfg, note = select_dataset(cfg, chosen_by)
    if note and log is not None:
        log(note)
    if saved is None and base.recipe == "defaults":  # a resumed run keeps its own
        cfg, note = default_augmentation(cfg, overrides)
        if note and log is not None:
            log(note)
    return cfg


def default_augmentation(
    cfg: TrainConfig, overrides: dict[str, Any]
) -> tuple[TrainConfig, str | None]:
    """A run on the user's images without a recipe, and no augmentation asked for, gets the
    usual one for its image size, and a line saying which: images of 64 pixels or less (CIFAR's
    kind) a zero-padded random crop (an eighth of the side) and a horizontal flip, larger ones a
    random-resized crop and a flip. Training on no augmentation at all overfits a small folder
    without a word."""
    asked = {"train_crop", "hflip", "crop_padding"} & set(overrides)
    if cfg.data_dir is None or asked or cfg.dataset == "digits":
        return cfg, None
    from ..models.registry import model_info

    size = cfg.input_size or model_info(cfg.model).input_size
    if size <= 64:
        pad = max(1, size // 8)
        cfg = dataclasses.replace(cfg, train_crop="pad_crop", crop_padding=pad, hflip=True)
        what = f"{pad}-pixel pad and random crop, horizontal flip"
    else:
        cfg = dataclasses.replace(cfg, train_crop="random_resized_crop", hflip=True)
        what = "random-resized crop, horizontal flip"
    note = (
        f"augmentation: {what} (the default for {size}x{size} images without a recipe; "
        "--set train_crop=none --set hflip=false trains without)"
    )
    cfg = dataclasses.replace(cfg, description=f"{cfg.description}; {note}")
    return cfg, note


def _leaves_digits(given: TrainConfig) -> bool:
    """Whether the command line leaves the digits demo (``given``: its settings over the
    defaults, which are the digits recipe's dataset and model)."""
    demo = TrainConfig()
    return (
        given.dataset != demo.dataset
        or given.model != demo.model
        or given.pretrained is not None
        or given.data_dir is not None
    )


def select_dataset(cfg: TrainConfig, chosen_by: str | None) -> tuple[TrainConfig, str | None]:
    """The dataset that reads ``cfg.data_dir``, and a line saying so when it was inferred.

    ``chosen_by`` names who chose ``cfg.dataset`` (``--dataset``, the recipe, the resumed run);
    None: nobody did, and what the folder holds decides (``data.inspect_data_dir``'s rules),
    recorded in the description. A chosen dataset that cannot read the folder is refused,
    naming both: training the digits, or CIFAR-10, while config.toml names the user's folder
    would be a wrong result without a word.
    """
    if cfg.data_dir is None:
        return cfg, None
    held = inspect_data_dir(cfg.data_dir)
    if chosen_by is not None:
        if not held.readable_as(cfg.dataset):
            raise ConfigError(_contradiction(cfg, chosen_by, held))
        return cfg, None
    if held.dataset is None:
        download = " (or pass --dataset cifar10 or cifar100 to download it there)"
        raise ConfigError(
            f"cannot tell which dataset --data-dir {cfg.data_dir} holds: it holds "
            f"{held.description}; expected {LAYOUTS}{download if held.empty else ''}"
        )
    note = (
        f"dataset {held.dataset}, inferred from --data-dir {cfg.data_dir}: it holds "
        f"{held.description}; --dataset chooses another"
    )
    described = f"{cfg.description}; {note}" if cfg.description else note
    return dataclasses.replace(cfg, dataset=held.dataset, description=described), note


def _contradiction(cfg: TrainConfig, chosen_by: str, held: FolderContents) -> str:
    """``chosen_by``'s dataset cannot read the folder: what contradicts what, and the fix."""
    if held.dataset is not None:
        fix = f"pass --dataset {held.dataset} to train on this folder"
    else:
        fix = f"expected {LAYOUTS}"
    if cfg.dataset == "digits":
        return (
            f"{chosen_by} contradicts --data-dir {cfg.data_dir}: the digits are built in and "
            f"read no folder; {fix}, or leave --data-dir out"
        )
    return (
        f"{chosen_by} contradicts --data-dir {cfg.data_dir}, which holds {held.description}; {fix}"
    )
