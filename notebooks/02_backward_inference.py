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
# # 2. Inference quantities and the backward family (docs/theory.md: P1–P3, B1–B4)
#
# The reverse-time ρ-family
#   dx = [f x − ½(1 + ρ²) g² ∇log p_t(x)] dt + ρ g dw̄
# interpolates between the probability-flow ODE (ρ = 0) and the reverse SDE (ρ = 1). We derive
# its data-prediction form and exact inference step with the library, check the special
# cases (DDIM, ancestral sampling), and sample a Gaussian mixture with the exact oracle
# denoiser for several ρ.

# %%
import matplotlib.pyplot as plt
import sympy as sp
import torch
from IPython.display import Markdown, Math, display

from s2n_theory import backward, figures, forward, inference
from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.numeric_schedule import compile_schedule
from s2n_theory.schedule import Schedule
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.symbols import S
from s2n_theory.verification import suite
from s2n_theory.verification.theory_doc import claims_markdown

FAST = figures.fast()


def show(label, expr):
    display(Math(f"{label} = {sp.latex(expr)}"))


def is_zero(expr):
    return sp.simplify(sp.expand(expr)) == 0


G = Schedule.general()
x, x0_hat = sp.symbols("x hat{x}_0", real=True)


# %% [markdown]
# The claims explored here, as the claim registry states them (the same text as docs/theory.md and the report):

# %%
display(Markdown(claims_markdown(['P1', 'P2', 'P3', 'B1', 'B2', 'B3', 'B4'])))

# %% [markdown]
# ## P1: Tweedie
# ∇log p_t(x) = (α x̂₀ − x)/σ² = −ε̂/σ with x = α x̂₀ + σ ε̂. We check the library's
# conversions symbolically, then on the exact mixture oracle with torch autograd.

# %%
alpha, sigma = sp.symbols("alpha sigma", positive=True)
eps_hat = inference.eps_from_x0(x, x0_hat, alpha, sigma)
score = inference.score_from_x0(x, x0_hat, alpha, sigma)
show(r"\hat\varepsilon", eps_hat)
show(r"\nabla \log p_t", score)
assert is_zero(score + eps_hat / sigma)
assert is_zero(inference.x0_from_eps(x, eps_hat, alpha, sigma) - x0_hat)

mixture = figures.demo_mixture()
vp = get_schedule("vp-linear")
xs = torch.linspace(-4, 4, 101, dtype=torch.float64)[:, None].requires_grad_(True)
t = 0.4
log_p = mixture.log_prob(xs, t, vp)
(autograd_score,) = torch.autograd.grad(log_p.sum(), xs)
num = compile_schedule(vp, "numpy")
a_t, s_t = float(num.alpha(t)), float(num.sigma(t))
tweedie = (a_t * mixture.x0_hat(xs.detach(), t, vp) - xs.detach()) / s_t**2
assert torch.allclose(autograd_score, tweedie, rtol=1e-9, atol=1e-9)
print("P1 ✓: autograd score of the exact marginal = Tweedie's (αx̂₀ − x)/σ²")

# %% [markdown]
# ## P2: the EDM bridge
# A VE denoiser D(z; σ) (trained on x₀ + σε) serves any schedule through
# x̂₀(x, t) = D(x/α_t; e^{−λ_t/2}). Here D is the oracle's own VE denoiser.

# %%
def edm_denoiser(z, sigma_ve):
    return mixture.x0_hat_at(z, 1.0, sigma_ve)


for name in ("vp-linear", "rectified-flow", "vdm"):
    sched = get_schedule(name)
    bridged = inference.denoiser_from_edm(edm_denoiser, sched)
    times = torch.full((101,), 0.5 * (sched.t_min + sched.t_max), dtype=torch.float64)
    direct = mixture.x0_hat(xs.detach(), times[0].item(), sched)
    assert torch.allclose(bridged(xs.detach(), times), direct, rtol=1e-9, atol=1e-9), name
print("P2 ✓ on vp-linear, rectified-flow, vdm")

# %% [markdown]
# ## B1 → B2: data-prediction form
# Substituting Tweedie's score into the B1 drift gives f x + ½(1 + ρ²) λ′ (α x̂₀ − x).

# %%
tweedie_score = (G.alpha * x0_hat - x) / G.sigma**2
drift_b1 = backward.drift_from_score(G, x, tweedie_score)
drift_b2 = backward.drift_from_x0(G, x, x0_hat)
show(r"\text{drift}_{B2}", drift_b2)
assert is_zero(drift_b1 - drift_b2)
assert is_zero(backward.noise_scale_data_form(G) ** 2 - backward.noise_variance_rate(G))
print("B2 ✓: drift and noise of the data-prediction form equal B1's (general schedule, general ρ(t))")

# %% [markdown]
# ## B3: the exact inference step and its special cases
# x_s = c_x x_t + c_{x₀} x̂₀ + c_ξ ξ. ρ = 0 must be DDIM (x_s = α_s x̂₀ + σ_s ε̂),
# ρ = 1 the ancestral posterior F4.

# %%
c_x, c_x0, c_xi = backward.exact_step_coefficients(G)
show("c_x", c_x)
show(r"c_{\hat x_0}", c_x0)
show(r"c_\xi", c_xi)
rho = backward.RHO
# ρ = 0: DDIM keeps ε̂ = (x_t − α_t x̂₀)/σ_t and re-noises deterministically.
alpha_s, sigma_s = G.at(G.alpha, S), G.at(G.sigma, S)
ddim = alpha_s * x0_hat + sigma_s * (x - G.alpha * x0_hat) / G.sigma
assert is_zero(c_x.subs(rho, 0) * x + c_x0.subs(rho, 0) * x0_hat - ddim)
assert c_xi.subs(rho, 0) == 0
# ρ = 1: the posterior q(x_s | x_t, x₀ = x̂₀) of F4.
post_a, post_b, post_var = forward.posterior(G)
assert is_zero(c_x.subs(rho, 1) - post_a)
assert is_zero(c_x0.subs(rho, 1) - post_b)
assert is_zero(c_xi.subs(rho, 1) ** 2 - post_var)
print("B3 ✓: ρ = 0 is DDIM, ρ = 1 is the F4 posterior (general schedule)")

# %% [markdown]
# ## B4: the parametric step (this toolkit's γ, δ)
# γ rescales the predicted noise, ε̂_γ = (1 + γ) ε_θ; δ rescales the injected noise.
# γ = δ = 0 is B3.

# %%
x_theta = sp.Symbol("x_theta", real=True)
p_x, p_theta, p_xi = backward.parametric_step_coefficients(G)
for p, c in ((p_x, c_x), (p_theta, c_x0), (p_xi, c_xi)):
    assert is_zero(p.subs({backward.GAMMA: 0, backward.DELTA: 0}) - c)
x0_gamma = backward.parametric_x0(x, x_theta, G.alpha, backward.GAMMA)
eps_theta = (x - G.alpha * x_theta) / G.sigma
assert is_zero((x - G.alpha * x0_gamma) / G.sigma - (1 + backward.GAMMA) * eps_theta)
print("B4 ✓: ε̂_γ = (1 + γ) ε_θ, and γ = δ = 0 gives B3")

# %% [markdown]
# ## ρ-family trajectories (B1, B3)
# From the same x_T, the exact step with the oracle denoiser for ρ = 0, ½, 1 (paths in
# SN coordinates x/α against λ). Every member must land on p₀: KS test of the end points.
# (The ρ = 0 map is deterministic and monotone, so its KS statistic is essentially that of
# the x_T draw itself.)

# %%
fig, traj = figures.rho_trajectories_figure(schedule="vp-linear")
plt.show()
print("KS p-values:", {k: round(v, 3) for k, v in traj["ks_pvalues"].items()})
assert all(p > 1e-3 for p in traj["ks_pvalues"].values())

# %% [markdown]
# ## The registry's checks of P1–P3 and B1–B4

# %%
schedules = ["general"] if FAST else ["general", *builtin_names()]
results = suite.run(["P1", "P2", "P3", "B1", "B2", "B3", "B4"], schedules)
for r in results:
    print(f"{r.claim:3} {r.schedule:16} {r.method:10} {r.status:5} {r.detail}")
assert not [r for r in results if r.status in ("fail", "error")]
