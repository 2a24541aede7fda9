# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]

# %% [markdown]
# # 4. Signal-to-noise space (docs/theory.md: S1–S3)
#
# With the clock u = e^{−λ(t)} and the SN coordinate y = x_t/α_t, every S2N forward process
# is the same Brownian motion y(u) = x₀ + W(u) started at the data (S1); a schedule is only a
# choice of clock speed. So samplers driven by the same λ-grid agree in y under any schedule
# (S2), and the diffusion loss depends only on the λ endpoints (S3).

# %%
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
from IPython.display import Markdown, Math, display

from s2n_theory import figures, forward, snspace
from s2n_theory.backward import exact_step
from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.schedule import Schedule
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.symbols import T
from s2n_theory.verification import suite
from s2n_theory.verification.theory_doc import claims_markdown

FAST = figures.fast()


def show(label, expr):
    display(Math(f"{label} = {sp.latex(expr)}"))


def is_zero(expr):
    return sp.simplify(sp.expand(expr)) == 0


G = Schedule.general()


# %% [markdown]
# The claims explored here, as the claim registry states them (the same text as docs/theory.md and the report):

# %%
display(Markdown(claims_markdown(['S1', 'S2', 'S3'])))

# %% [markdown]
# ## S1: Itô's formula both ways
# x = α(t) y(u(t)) with dy = dW_u gives back F1's f and g²; under F1, y = x/α has no drift
# and quadratic variation du.

# %%
u, y = snspace.sn_coordinates(G)
show("u", u)
show("y", y)
f_sn, g2_sn = snspace.ito_from_sn(G)
show(r"f_{\text{Ito}}", f_sn)
show(r"g^2_{\text{Ito}}", g2_sn)
assert is_zero(f_sn - forward.drift(G))
assert is_zero(g2_sn - forward.diffusion_squared(G))
drift_y, diffusion_y = snspace.ito_to_sn(G)
assert is_zero(drift_y) and is_zero(diffusion_y - sp.diff(u, T))
print("S1 ✓ (general schedule)")

# %% [markdown]
# ## S2: same λ-grid, same SN trajectory
# The exact step (B3) with the oracle denoiser on one λ-grid, under four schedules with very
# different α(t), σ(t): the y-paths must coincide (to round-off), deterministic (ρ = 0) and
# stochastic (ρ = 1, shared noise).

# %%
mixture = figures.demo_mixture()
grid = np.linspace(-4.0, 8.0, 25 if FAST else 61)
rng = np.random.default_rng(3)
n = 16
y_start = mixture.mean() + np.exp(-grid[0] / 2) * rng.standard_normal((n, 1))
noises = rng.standard_normal((len(grid) - 1, n, 1))
names = ["vp-linear", "ve", "rectified-flow", "vdm"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
worst = {}
for ax, rho in zip(axes, (0.0, 1.0), strict=True):
    paths = {}
    for name, style in zip(names, ("-", "--", ":", "-."), strict=True):
        sched = get_schedule(name)
        paths[name] = snspace.sn_trajectory(sched, grid, mixture.denoiser(sched), y_start, rho=rho,
                                            noises=noises, step=exact_step)
        ax.plot(grid, paths[name][:, :6, 0], style, lw=1.0, color=f"C{names.index(name)}")
        ax.plot([], [], style, color=f"C{names.index(name)}", label=name)
    ref = paths["vp-linear"]
    worst[rho] = max(float(np.max(np.abs(p - ref))) for p in paths.values()) / float(np.max(np.abs(ref)))
    ax.set(title=f"ρ = {rho:g}: y = x/α on a shared λ-grid", xlabel="λ (noise → data)", ylabel="y")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
print("largest relative difference between schedules:", worst)
assert all(w < 1e-10 for w in worst.values())

# %% [markdown]
# ## S3: the diffusion loss depends only on the λ endpoints
# −½ ∫ λ′ e^λ mmse dt = ½ ∫ e^λ mmse(e^λ) dλ. We integrate the exact denoiser's error in t
# under two schedules that share λ_min, λ_max (vdm and a cosine-in-λ VP schedule) and in λ
# directly; the integrands differ, the integrals must not.

# %%
from s2n_theory.distributions import Mixture1D  # noqa: E402
from s2n_theory.information import mmse  # noqa: E402
from s2n_theory.numeric_schedule import compile_schedule

vdm = get_schedule("vdm")
num = compile_schedule(vdm, "numpy")
lam_min, lam_max = float(num.log_snr(vdm.t_max)), float(num.log_snr(vdm.t_min))
other = Schedule.from_vp_log_snr(
    sp.Float(lam_max) + sp.Float(lam_min - lam_max) * (1 - sp.cos(sp.pi * T / 2)), domain=(0.0, 1.0),
    name="cosine-in-λ VP")
data = Mixture1D(tuple(mixture.weights), tuple(mixture.means[:, 0]), tuple(mixture.covs.reshape(-1)))
in_lambda = snspace.diffusion_loss_in_log_snr(lam_min, lam_max, lambda snr: mmse(data, snr))
losses = {"λ-integral": in_lambda.value}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for sched in (vdm, other):
    mse_t = snspace.exact_denoiser_mse(mixture, sched)
    est = snspace.diffusion_loss_in_t(sched, mse_t)
    losses[sched.name] = est.value
    n_s = compile_schedule(sched, "numpy")
    t = np.linspace(sched.t_min + 1e-3, sched.t_max - 1e-3, 200)
    axes[0].plot(t, -0.5 * n_s.dlog_snr(t) * np.exp(n_s.log_snr(t)) * mse_t(t), label=sched.name)
lam = np.linspace(lam_min, lam_max, 200)
axes[1].plot(lam, 0.5 * np.exp(lam) * mmse(data, np.exp(lam)), color="k")
axes[0].set(title="integrand in t", xlabel="t", yscale="log")
axes[1].set(title="integrand in λ (schedule-free)", xlabel="λ", yscale="log")
axes[0].legend()
fig.tight_layout()
plt.show()
print(losses)
values = np.array(list(losses.values()))
assert np.max(np.abs(values - values[0])) < 1e-6 * abs(values[0])

# %% [markdown]
# ## The registry's checks of S1–S3

# %%
schedules = ["general", "vdm"] if FAST else ["general", *builtin_names()]
results = suite.run(["S1", "S2", "S3"], schedules)
for r in results:
    print(f"{r.claim:3} {r.schedule:16} {r.method:10} {r.status:5} {r.detail}")
assert not [r for r in results if r.status in ("fail", "error")]
