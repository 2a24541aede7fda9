"""A learned denoiser on real data: scikit-learn's 8×8 digits (64-D), trained on CPU.

* :func:`load_split`: ``sklearn.datasets.load_digits()`` scaled to [−1, 1] (pixel/8 − 1) with a
  fixed, stratified 75/25 train/test split (``random_state=0``).
* :class:`EDMDenoiser`: an MLP with EDM preconditioning (Karras et al. 2022),
  D(y; σ̄) = c_skip y + c_out F(c_in y, c_noise), on the VE process y = x₀ + σ̄ ε. Under any S2N
  schedule it is used through the P2 bridge :func:`s2n_theory.inference.denoiser_from_edm`.
* :func:`train`: EDM's loss (log-normal σ̄, weight (σ̄² + σ_d²)/(σ̄ σ_d)²) with Adam, an EMA of the
  weights, a progress bar; saves ``model.pt``, ``curve.csv`` and ``curve.png``.
* :class:`FeatureClassifier` / :func:`feature_classifier`: a small MLP classifier trained on the
  train split; its 64-D penultimate activations define the "Fréchet digits distance" (FDD), the
  digits analogue of FID (FD of Gaussian fits in that feature space).

Requires scikit-learn (the data set). Everything else is torch and runs on CPU or CUDA.
"""

from __future__ import annotations

import copy
import csv
import functools
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .errors import S2NError
from .inference import denoiser_from_edm
from .metrics import frechet_distance
from .numeric_schedule import compile_schedule
from .plotting import SAVE_DPI, plain_log_axis, thousands_axis
from .sampling import NoiseSource, sample, time_grid
from .schedule_spec import get_schedule

DIM = 64


class DigitsError(S2NError):
    """A digits data/model problem the user can fix (missing scikit-learn, bad checkpoint)."""


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DigitsError("the digits target needs scikit-learn: pip install scikit-learn") from exc
    data = load_digits()
    x = data.data.astype(np.float64) / 8.0 - 1.0
    x_train, x_test, y_train, y_test = train_test_split(x, data.target, test_size=0.25, random_state=0,
                                                        stratify=data.target)
    return x_train, x_test, y_train, y_test


def load_split(split: str = "train", dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (n, 64) in [−1, 1], labels (n,)) of the fixed ``train`` or ``test`` split."""
    x_train, x_test, y_train, y_test = _load()
    if split not in ("train", "test"):
        raise DigitsError(f"split must be 'train' or 'test', got {split!r}")
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    return torch.as_tensor(x, dtype=dtype), torch.as_tensor(y, dtype=torch.int64)


# ---------------------------------------------------------------------- the denoiser
@dataclass
class ModelConfig:
    hidden: int = 256
    layers: int = 3
    frequencies: int = 16
    sigma_data: float = 0.5


class EDMDenoiser(nn.Module):
    """D(y, σ̄) with EDM preconditioning around an MLP F(c_in y, c_noise); ``sigma`` broadcasts
    against ``y``'s batch (scalar, (batch,) or (batch, 1))."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        c = self.config
        self.register_buffer("freqs", torch.randn(c.frequencies, generator=torch.Generator().manual_seed(0)) * 4.0)
        widths = [DIM + 2 * c.frequencies] + [c.hidden] * c.layers
        blocks: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=False):
            blocks += [nn.Linear(a, b), nn.SiLU()]
        blocks.append(nn.Linear(widths[-1], DIM))
        self.net = nn.Sequential(*blocks)

    def forward(self, y: torch.Tensor, sigma: Any) -> torch.Tensor:
        sd = self.config.sigma_data
        sigma = torch.as_tensor(sigma, dtype=y.dtype, device=y.device).reshape(-1, 1).expand(y.shape[0], 1)
        total = sigma**2 + sd**2
        c_skip, c_out, c_in = sd**2 / total, sigma * sd / total.sqrt(), 1.0 / total.sqrt()
        c_noise = sigma.log() / 4.0
        angles = 2 * math.pi * c_noise * self.freqs.to(y.dtype)
        features = torch.cat([c_in * y, angles.sin(), angles.cos()], dim=1)
        param_dtype = self.net[0].weight.dtype
        out = self.net(features.to(param_dtype)).to(y.dtype)
        return c_skip * y + c_out * out


@dataclass
class TrainConfig:
    steps: int = 20_000
    batch: int = 256
    lr: float = 2e-3
    ema: float = 0.999
    p_mean: float = -1.2
    p_std: float = 1.2
    seed: int = 0
    hidden: int = 256
    layers: int = 3

    def __post_init__(self) -> None:
        # Validated once, at construction: `s2n train` options and API callers get the same one-line errors.
        counts = {"steps": 1, "batch": 1, "hidden": 1, "layers": 1, "seed": 0}
        for name, low in counts.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise DigitsError(f"{name} must be a whole number >= {low}, got {value!r}")
        for name in ("lr", "ema", "p_mean", "p_std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise DigitsError(f"{name} must be a finite number, got {value!r}")
        if self.lr <= 0:
            raise DigitsError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.ema < 1:
            raise DigitsError(f"ema must be in [0, 1), got {self.ema}")
        if self.p_std <= 0:
            raise DigitsError(f"p_std must be > 0, got {self.p_std}")


def edm_loss(model: EDMDenoiser, x0: torch.Tensor, generator: torch.Generator, p_mean: float,
             p_std: float) -> torch.Tensor:
    """EDM's training loss: σ̄ = exp(P_mean + P_std n), weight (σ̄² + σ_d²)/(σ̄ σ_d)²."""
    sd = model.config.sigma_data
    n = torch.randn(x0.shape[0], 1, generator=generator, dtype=x0.dtype)
    sigma = (p_mean + p_std * n).exp()
    noisy = x0 + sigma * torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    weight = (sigma**2 + sd**2) / (sigma * sd) ** 2
    return (weight * (model(noisy, sigma) - x0) ** 2).mean()


def train(out: Path | str | None, config: TrainConfig | None = None, progress: bool = True,
          evaluate: bool = True) -> tuple[EDMDenoiser, list[tuple[int, float]]]:
    """Train on the train split (float32, CPU); save ``model.pt``, ``curve.csv``, ``curve.png`` and
    (with ``evaluate``) ``evaluation.json`` in ``out``. Returns the EMA model and the curve."""
    cfg = config or TrainConfig()
    torch.manual_seed(cfg.seed)
    x_train, _ = load_split("train", torch.float32)
    sigma_data = float(x_train.std())
    model = EDMDenoiser(ModelConfig(hidden=cfg.hidden, layers=cfg.layers, sigma_data=sigma_data))
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(1.0, (k + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(k, cfg.steps) / cfg.steps)))
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = range(cfg.steps)
    if progress:
        steps = tqdm(steps, desc="training digits denoiser", unit="step")
    curve: list[tuple[int, float]] = []
    running, start = 0.0, time.time()
    for k in steps:
        idx = torch.randint(0, x_train.shape[0], (cfg.batch,), generator=gen)
        loss = edm_loss(model, x_train[idx], gen, cfg.p_mean, cfg.p_std)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            decay = min(cfg.ema, (1.0 + k) / (10.0 + k))  # warm-up: short runs are not dominated by the init
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=False):
                pe.lerp_(pm, 1.0 - decay)
        running += float(loss.detach())
        every = max(1, min(100, cfg.steps // 20))
        if (k + 1) % every == 0:
            curve.append((k + 1, running / every))
            if progress:
                steps.set_postfix(loss=f"{running / every:.4f}")  # type: ignore[union-attr]
            running = 0.0
    seconds = time.time() - start
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": ema.state_dict(), "model_config": asdict(ema.config), "train_config": asdict(cfg),
                    "seconds": seconds}, out / "model.pt")
        with open(out / "curve.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["step", "loss"])
            writer.writerows(curve)
        _plot_curve(curve, out / "curve.png")
        if evaluate:
            (out / "evaluation.json").write_text(json.dumps(evaluate_model(ema), indent=2))
    return ema, curve


def curve_figure(curve: list[tuple[int, float]]) -> Any:
    """The training curve: running-mean EDM loss against step (steps as 5k, 10k; plain log labels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    if curve:
        ax.plot(*zip(*curve, strict=False))
    ax.set_xlabel("step")
    ax.set_ylabel("EDM loss (running mean)")
    ax.set_yscale("log")
    thousands_axis(ax.xaxis)
    plain_log_axis(ax.yaxis)
    ax.grid(alpha=0.3, which="both")
    ax.set_title("digits denoiser training")
    fig.tight_layout()
    return fig


def _plot_curve(curve: list[tuple[int, float]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = curve_figure(curve)
    fig.savefig(path, dpi=SAVE_DPI)
    plt.close(fig)


def load_model(path: Path | str, device: str | torch.device = "cpu") -> EDMDenoiser:
    """The EMA denoiser saved by :func:`train` (``model.pt`` or its directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.exists():
        raise DigitsError(f"no digits checkpoint at {path} (train one with `s2n train digits --out DIR`)")
    payload = torch.load(path, map_location=device, weights_only=True)
    model = EDMDenoiser(ModelConfig(**payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval().requires_grad_(False)


# ---------------------------------------------------------------------- features and FDD
class FeatureClassifier(nn.Module):
    def __init__(self, width: int = 128, features: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(DIM, width), nn.SiLU(), nn.Linear(width, features), nn.SiLU())
        self.head = nn.Linear(features, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.to(self.head.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@functools.lru_cache(maxsize=2)
def feature_classifier(seed: int = 0, steps: int = 800) -> tuple[FeatureClassifier, float]:
    """The FDD feature network (deterministic for a seed) and its test accuracy."""
    torch.manual_seed(seed)
    x, y = load_split("train", torch.float32)
    xt, yt = load_split("test", torch.float32)
    net = FeatureClassifier()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (128,), generator=gen)
        # Light input noise makes the features robust to the small pixel noise of samples.
        inputs = x[idx] + 0.05 * torch.randn(x[idx].shape, generator=gen)
        loss = nn.functional.cross_entropy(net(inputs), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval().requires_grad_(False)
    with torch.no_grad():
        accuracy = float((net(xt).argmax(1) == yt).float().mean())
    return net, accuracy


def digit_features(x: torch.Tensor) -> torch.Tensor:
    net, _ = feature_classifier()
    with torch.no_grad():
        return net.features(x.detach().cpu().float()).double()


def frechet_digits_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """FD between Gaussian fits of the classifier features of two sets of digits ("FDD")."""
    return frechet_distance(digit_features(x), digit_features(y))


def gaussian_fit_samples(n: int, seed: int = 0) -> torch.Tensor:
    """n draws from the Gaussian fit N(mean, cov) of the train split: the baseline a model must beat."""
    x, _ = load_split("train")
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.multivariate_normal(x.mean(0).numpy(), np.cov(x.numpy(), rowvar=False), n))


def sample_model(model: EDMDenoiser, n: int, steps: int = 32, seed: int = 0, schedule: str = "edm",
                 method: str = "heun") -> torch.Tensor:
    """n samples with the P2 bridge under ``schedule`` (Karras grid, Heun by default), float64."""
    sched = get_schedule(schedule)
    grid = time_grid(sched, steps, "karras")
    num = compile_schedule(sched, "numpy")
    t_max = float(grid[0])
    scale = math.sqrt(float(num.sigma(t_max)) ** 2 + float(num.alpha(t_max)) ** 2 * model.config.sigma_data**2)
    x = scale * NoiseSource(seed).normal((n, DIM), step=0, stream=7, dtype=torch.float64)
    denoiser = denoiser_from_edm(lambda y, s: model(y, s), sched)
    with torch.no_grad():
        return sample(denoiser, x, sched, grid, method=method, generator=seed).samples


def evaluate_model(model: EDMDenoiser, n: int = 1000, seed: int = 0) -> dict[str, float]:
    """FDD of model samples, of the Gaussian fit, and of the train split, each against the test split."""
    test, _ = load_split("test")
    train_x, _ = load_split("train")
    _, accuracy = feature_classifier()
    samples = sample_model(model, n, seed=seed)
    return {"fdd_model": frechet_digits_distance(samples, test),
            "fdd_gaussian_fit": frechet_digits_distance(gaussian_fit_samples(n, seed), test),
            "fdd_train_split": frechet_digits_distance(train_x, test),
            "classifier_test_accuracy": accuracy, "samples": n}
