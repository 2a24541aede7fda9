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
# # 5. Information theory (docs/theory.md: I1–I5)
#
# For the Gaussian channel y = √snr x₀ + ε with snr = e^{λ(t)}, the mutual information
# I(snr) = I(x₀; x_t) and the minimum mean-squared error mmse(snr) are tied by
# dI/dsnr = ½ mmse (I-MMSE, I1). Along a schedule this gives the time form I2; with the
# diffusion loss of S3 it says the optimal loss is I(x₀; x_{t=0}) − I(x₀; x_{t=T}) (I5).

# %%
import tempfile
from pathlib import Path

import numpy as np
import sympy as sp
from IPython.display import Image, Markdown, Math, display

from s2n_theory import figures, information, snspace
from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.distributions import Binary, Mixture1D, Uniform
from s2n_theory.information import mmse, mutual_information
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.verification import suite
from s2n_theory.verification.theory_doc import claims_markdown

FAST = figures.fast()


def show(label, expr):
    display(Math(f"{label} = {sp.latex(expr)}"))


def is_zero(expr):
    return sp.simplify(sp.expand(expr)) == 0



# %% [markdown]
# The claims explored here, as the claim registry states them (the same text as docs/theory.md and the report):

# %%
display(Markdown(claims_markdown(['I1', 'I2', 'I3', 'I4', 'I5'])))

# %% [markdown]
# ## Gaussian data, symbolically (I1, I3)
# x₀ ~ N(0, s²): I = ½ log(1 + snr s²), mmse = s²/(1 + snr s²), Var[x₀ | y] = mmse.

# %%
snr, s2 = information.SNR, information.VARIANCE
I_expr = information.gaussian_mutual_information_expr()
mmse_expr = information.gaussian_mmse_expr()
show("I(\\mathrm{snr})", I_expr)
show("\\mathrm{mmse}(\\mathrm{snr})", mmse_expr)
assert is_zero(sp.diff(I_expr, snr) - mmse_expr / 2)  # I1
assert is_zero(sp.diff(mmse_expr, snr) + information.gaussian_posterior_variance_expr() ** 2)  # I3
lam = sp.Symbol("lambda", real=True)
assert is_zero(sp.diff(I_expr.subs(snr, sp.exp(lam)), lam) - (sp.exp(lam) * mmse_expr / 2).subs(snr, sp.exp(lam)))
print("I1 (dI/dsnr and dI/dλ) and I3 ✓ for Gaussian data")

# %% [markdown]
# ## I and mmse for the reference distributions
# Gaussian, binary ±1, uniform, a 1-D mixture (quadrature) and a 2-D mixture (Monte Carlo,
# error bars ±2 SE). All but the 2-D mixture have unit variance, so at small snr all mmse
# curves start at 1 and at large snr the binary I tends to log 2.

# %%
figure_path = Path(tempfile.mkdtemp()) / "information.png"
figures.information_figure(figure_path)
display(Image(filename=str(figure_path)))

# %% [markdown]
# ## Binary data against an independent formula
# mmse(snr) = 1 − E tanh(snr − √snr Z), Z ~ N(0, 1), written as E[2 expit(−2(snr − √snr Z))]
# (no cancellation at large snr) and integrated over Z with scipy's adaptive `quad`, against
# the library's own quadrature over y.

# %%
from scipy.integrate import quad  # noqa: E402
from scipy.special import expit  # noqa: E402
from scipy.stats import norm  # noqa: E402

from s2n_theory.numeric_schedule import compile_schedule

grid = np.geomspace(1e-2, 1e2, 9)


def binary_mmse(value):
    integrand = lambda z: 2 * expit(-2 * (value - np.sqrt(value) * z)) * norm.pdf(z)  # noqa: E731
    # The integrand switches on around z = √snr; split there.
    root = np.sqrt(value)
    return sum(quad(integrand, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
               for lo, hi in ((-np.inf, root), (root, np.inf)))


independent = np.array([binary_mmse(v) for v in grid])
library = mmse(Binary(), grid)
print(np.c_[grid, independent, library])
assert np.allclose(library, independent, rtol=1e-6, atol=0)  # relative, down to mmse ~ 1e-23

# %% [markdown]
# ## I1 for non-Gaussian data: finite differences of I against ½ mmse
# (relative gap; the finite differences' own error estimate is ~1e-9 relative)

# %%
for dist in (Binary(), Uniform(-np.sqrt(3), np.sqrt(3)), Mixture1D((0.3, 0.7), (-2.0, 1.5), (0.15, 0.35))):
    moderate = np.geomspace(1e-2, 10, 7)  # beyond, mmse of binary data is ~1e-8 and below
    derivative = information.dI_dsnr(dist, moderate)
    half_mmse = 0.5 * mmse(dist, moderate)
    rel = np.max(np.abs(derivative.value - half_mmse) / half_mmse)
    print(f"{dist.spec():40} max relative gap {rel:.1e}")
    assert rel < 1e-6

# %% [markdown]
# ## I2: the time form along a schedule
# d/dt I(x₀; x_t) = ½ λ′ e^λ mmse(e^λ) ≤ 0: information is destroyed monotonically.

# %%
data = Mixture1D((0.3, 0.7), (-2.0, 1.5), (0.15, 0.35))
for name in ("vp-linear", "rectified-flow"):
    num = compile_schedule(get_schedule(name), "numpy")
    t = np.linspace(0.2, 0.8, 7)
    rate = information.time_rate(num.dlog_snr(t), num.snr(t), mmse(data, num.snr(t)))
    fd = information.finite_difference(lambda tt, num=num: mutual_information(data, num.snr(tt)), t,
                                       0.01 * np.ones_like(t))
    assert np.all(rate < 0)
    assert np.allclose(fd.value, rate, rtol=1e-6), (name, fd.value, rate)
print("I2 ✓ on vp-linear and rectified-flow")

# %% [markdown]
# ## I5: optimal diffusion loss = information lost
# ½ ∫_{λ_min}^{λ_max} e^λ mmse(e^λ) dλ = I(e^{λ_max}) − I(e^{λ_min}) (I1 integrated, S3).

# %%
vdm = get_schedule("vdm")
num = compile_schedule(vdm, "numpy")
lam_min, lam_max = float(num.log_snr(vdm.t_max)), float(num.log_snr(vdm.t_min))
loss = snspace.diffusion_loss_in_log_snr(lam_min, lam_max, lambda s: mmse(data, s)).value
info_gap = float(mutual_information(data, np.exp(lam_max)) - mutual_information(data, np.exp(lam_min)))
print(f"loss = {loss:.10f}, I(max) − I(min) = {info_gap:.10f}")
assert abs(loss - info_gap) < 1e-7 * abs(info_gap)

# %% [markdown]
# ## The registry's checks of I1–I5

# %%
schedules = ["general"] if FAST else ["general", *builtin_names()]
results = suite.run(["I1", "I2", "I3", "I4", "I5"], schedules)
for r in results:
    print(f"{r.claim:3} {r.schedule:16} {r.method:10} {r.status:5} {r.detail}")
assert not [r for r in results if r.status in ("fail", "error")]
