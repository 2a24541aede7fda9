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
# # 1. Schedules and the forward SDE (docs/theory.md: F1–F5)
#
# A schedule gives α(t) and the log-SNR λ(t) = log(α²/σ²); everything in the forward
# theory follows from these two functions. We derive each claim with the library on the
# **general** schedule (undefined SymPy functions α(t), λ(t)), so the identities hold for
# every schedule at once, then look at the eight built-ins and at Monte Carlo samples of
# the forward process against the exact densities.
#
# Set `S2N_FAST=1` for small sizes (the tests do); running this notebook is a test: every
# claim is asserted.

# %%

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
from IPython.display import Markdown, Math, display

from s2n_theory import figures, forward
from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.schedule import Schedule
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.symbols import S, T
from s2n_theory.verification import suite
from s2n_theory.verification.theory_doc import claims_markdown

FAST = figures.fast()
print("S2N_FAST =", FAST)


def show(label, expr):
    display(Math(f"{label} = {sp.latex(expr)}"))


def is_zero(expr):
    return sp.simplify(sp.expand(expr)) == 0


G = Schedule.general()
show(r"\alpha(t)", G.alpha)
show(r"\sigma(t)", G.sigma)
show(r"\lambda(t)", G.log_snr)


# %% [markdown]
# The claims explored here, as the claim registry states them (the same text as docs/theory.md and the report):

# %%
display(Markdown(claims_markdown(['F1', 'F2', 'F3', 'F4', 'F5'])))

# %% [markdown]
# ## F1: drift and diffusion
# f = α′/α and g² = −e^{−λ} λ′ α², which should equal −σ²λ′ and (σ²)′ − 2fσ².

# %%
f, g2 = forward.drift(G), forward.diffusion_squared(G)
show("f(t)", f)
show("g(t)^2", g2)
sigma2 = G.sigma**2
assert is_zero(g2 - (-sigma2 * sp.diff(G.log_snr, T)))
assert is_zero(g2 - (sp.diff(sigma2, T) - 2 * f * sigma2))
print("F1: g² = −σ²λ′ = (σ²)′ − 2fσ²  ✓ (general schedule)")

# %% [markdown]
# ## F2: moment ODEs
# With m = α x₀ and v = σ², m′ = f m and v′ = 2 f v + g².

# %%
X0 = forward.X0
mean_rate, var_rate = forward.moment_rates(G, G.alpha * X0, sigma2)
assert is_zero(sp.diff(G.alpha * X0, T) - mean_rate)
assert is_zero(sp.diff(sigma2, T) - var_rate)
print("F2 ✓")

# %% [markdown]
# ## F3: transition kernel q(x_t | x_s)
# α_{t|s} = α_t/α_s and σ²_{t|s} = α_t² (e^{−λ_t} − e^{−λ_s}), which must equal
# σ_t² − α²_{t|s} σ_s² (the definition) and ∫ₛᵗ (α_t/α_u)² g_u² du.

# %%
alpha_ts, sigma2_ts = forward.transition(G)
show(r"\alpha_{t|s}", alpha_ts)
show(r"\sigma^2_{t|s}", sigma2_ts)
assert is_zero(sigma2_ts - (sigma2 - alpha_ts**2 * G.at(sigma2, S)))
# The integral form: d/dt of σ²_{t|s} − its integrand at u = t must be 2f σ²_{t|s}
# (differentiating under the integral sign), and σ²_{s|s} = 0.
u = sp.Symbol("u", real=True)
integrand_at_t = forward.transition_variance_integrand(G, u).subs(u, T)
assert is_zero(sp.diff(sigma2_ts, T) - integrand_at_t - 2 * f * sigma2_ts)
assert is_zero(sigma2_ts.subs(T, S))
print("F3 ✓ (definition and integral form)")

# %% [markdown]
# ## F4: the posterior q(x_s | x_t, x₀)
# Bayes' rule for Gaussians: 1/σ̃² = 1/σ_s² + α²_{t|s}/σ²_{t|s}, and
# μ̃ = σ̃² (α_s x₀/σ_s² + α_{t|s} x_t/σ²_{t|s}).

# %%
a, b, var_post = forward.posterior(G)
show(r"\tilde\sigma^2", var_post)
sigma2_s = G.at(sigma2, S)
bayes_var = 1 / (1 / sigma2_s + alpha_ts**2 / sigma2_ts)
assert is_zero(var_post - bayes_var)
assert is_zero(a - bayes_var * alpha_ts / sigma2_ts)
assert is_zero(b - bayes_var * G.at(G.alpha, S) / sigma2_s)
print("F4 ✓")

# %% [markdown]
# ## F5: Fokker–Planck
# For x₀ ~ N(μ, v), p_t = N(α μ, α² v + σ²) must solve ∂_t p = −∂_x(f x p) + ½ g² ∂²_x p.
# We check it on a concrete schedule in closed form (dividing by p leaves a polynomial in x).

# %%
vp = get_schedule("vp-linear")
mean_t, var_t = forward.gaussian_marginal(vp)
density = forward.gaussian_density(forward.X, mean_t, var_t)
residual = forward.fokker_planck_residual(density, forward.drift(vp), forward.diffusion_squared(vp)) / density
assert is_zero(residual)
print("F5 ✓ on vp-linear; the registry proves it on the general schedule below")

# %% [markdown]
# ## Every built-in schedule
# α, σ, λ and g² against rescaled time. λ must be strictly decreasing and g² > 0.

# %%
fig, curves = figures.schedules_figure()
plt.show()
for name, c in curves.items():
    assert np.all(c["alpha"] > 0) and np.all(c["sigma"] > 0), name
    assert np.all(np.diff(c["log_snr"]) < 0), f"{name}: λ not decreasing"
    assert np.all(c["g2"] > 0), f"{name}: g² not positive"
    assert np.allclose(c["log_snr"], 2 * np.log(c["alpha"] / c["sigma"]), rtol=1e-8, atol=1e-8), name
print("all built-ins:", ", ".join(curves))

# %% [markdown]
# ## Monte Carlo vs the exact density (F3, F5, P3)
# Data from a two-component mixture, pushed forward by the F3 kernel chained through five
# times; each histogram is compared with the mixture's exact marginal by a KS test.

# %%
fig, mc = figures.forward_histogram_figure(schedule="vp-linear")
plt.show()
print("KS p-values:", np.round(mc["ks_pvalues"], 3))
assert np.all(mc["ks_pvalues"] > 1e-3), mc["ks_pvalues"]

# %% [markdown]
# ## The registry's checks of F1–F5
# The same claims as the verification report checks them (general schedule; all built-ins
# too unless `S2N_FAST=1`).

# %%
schedules = ["general"] if FAST else ["general", *builtin_names()]
results = suite.run(["F1", "F2", "F3", "F4", "F5"], schedules)
for r in results:
    print(f"{r.claim:3} {r.schedule:16} {r.method:10} {r.status:5} {r.detail}")
assert not [r for r in results if r.status in ("fail", "error")]
