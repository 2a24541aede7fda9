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
# # 3. The non-Markovian continuous variational (CV) model (docs/theory.md: C1–C5)
#
# Conditioned on x₀ there is a whole family of processes with the forward marginals
# N(α x₀, σ²): discrete kernels q_c with a free variance c² (C1) and, in continuous time,
# an SDE with stochasticity ρ(t) (C2). Reversing it with x₀ → x̂₀ gives the B-family (C3).

# %%
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
from IPython.display import Markdown, Math, display

from s2n_theory import backward, cv_model, figures
from s2n_theory.builtin_schedules import builtin_names
from s2n_theory.schedule import Schedule
from s2n_theory.schedule_spec import get_schedule
from s2n_theory.symbols import S, T
from s2n_theory.verification import suite
from s2n_theory.verification.theory_doc import claims_markdown

FAST = figures.fast()


def show(label, expr):
    display(Math(f"{label} = {sp.latex(expr)}"))


def is_zero(expr):
    return sp.simplify(sp.expand(expr)) == 0


G = Schedule.general()
x0 = sp.Symbol("x_0", real=True)


# %% [markdown]
# The claims explored here, as the claim registry states them (the same text as docs/theory.md and the report):

# %%
display(Markdown(claims_markdown(['C1', 'C2', 'C3', 'C4', 'C5'])))

# %% [markdown]
# ## C1: the discrete family keeps the marginals
# With x_t ~ N(α_t x₀, σ_t²) and x_s | x_t ~ N(k_x x_t + k₀ x₀, c²):
# E[x_s | x₀] = k_x α_t x₀ + k₀ x₀ and Var = k_x² σ_t² + c² must be α_s x₀ and σ_s².

# %%
k_x, k_0, c2 = cv_model.discrete_kernel(G)
show("k_x", k_x)
show("k_0", k_0)
alpha_s, sigma_s = G.at(G.alpha, S), G.at(G.sigma, S)
assert is_zero(k_x * G.alpha * x0 + k_0 * x0 - alpha_s * x0)
assert is_zero(k_x**2 * G.sigma**2 + c2 - sigma_s**2)
# c² = σ̃² (F4) is the Markov chain: the kernel's coefficients become the posterior's.
from s2n_theory import forward  # noqa: E402
from s2n_theory.arrays import compile_expression

post_a, post_b, post_var = forward.posterior(G)
markov = cv_model.markov_c2(G)
assert is_zero(markov - post_var)
kx_markov, k0_markov = k_x.subs(cv_model.C2_SYMBOL, markov), k_0.subs(cv_model.C2_SYMBOL, markov)
assert is_zero(kx_markov**2 - post_a**2)  # both coefficients are positive: compare squares
assert is_zero((alpha_s - post_a * G.alpha) - post_b)  # k₀ = α_s − k_x α_t with k_x = post_a
print("C1 ✓: q_c preserves N(α_s x₀, σ_s²) for every c²; c² = σ̃² is F4")

# %% [markdown]
# ## C2: the continuous CV SDE
# dx = [a x + b x₀] dt + ρ g dw with a = σ′/σ + ½ρ²λ′, b = α′ − aα. The mean α x₀ and
# variance σ² solve its moment ODEs m′ = a m + b x₀, v′ = 2 a v + ρ² g² for every ρ(t).

# %%
a, b, noise2 = cv_model.cv_sde(G)
show("a", a)
show("b", b)
assert is_zero(sp.diff(G.alpha * x0, T) - (a * G.alpha * x0 + b * x0))
assert is_zero(sp.diff(G.sigma**2, T) - (2 * a * G.sigma**2 + noise2))
a1, b1, _ = cv_model.cv_sde(G, sp.Integer(1))
assert is_zero(a1 - forward.drift(G)) and is_zero(b1)
print("C2 ✓: marginals N(αx₀, σ²) for every ρ(t); ρ = 1 is the forward SDE F1 (a = f, b = 0)")

# %% [markdown]
# ### Paths of the CV SDE given x₀
# Euler–Maruyama of C2 from x₀ = 1 on vp-linear for several ρ, started at t = 0.05 from
# the exact N(α x₀, σ²) (near t_min, a = σ′/σ ~ 1/(2t) is too stiff for a uniform Euler grid).
# All paths share the band α x₀ ± 2σ; the empirical mean and standard deviation at T are
# compared with α(T) x₀ and σ(T) within 4 standard errors (σ/√n and σ/√(2n)) plus an O(Δt)
# allowance for the Euler bias.

# %%
vp = get_schedule("vp-linear")
n_paths, steps = (400, 400) if FAST else (4000, 2000)
times = np.linspace(0.05, vp.t_max, steps + 1)
alpha_n, sigma_n = (compile_expression([T], e)(times) for e in (vp.alpha, vp.sigma))
rng = np.random.default_rng(0)
fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), sharey=True)
end_std = {}
for ax, rho_value in zip(axes, (0.0, 0.5, 1.0, 2.0), strict=True):
    a_f, b_f, n_f = (compile_expression([T], e.subs(backward.RHO_T, rho_value)) for e in cv_model.cv_sde(vp))
    x = alpha_n[0] * 1.0 + sigma_n[0] * rng.standard_normal(n_paths)
    path = [x]
    for k in range(steps):
        t, dt = times[k], times[k + 1] - times[k]
        x = x + (a_f(t) * x + b_f(t) * 1.0) * dt + np.sqrt(max(float(n_f(t)), 0.0) * dt) * rng.standard_normal(n_paths)
        path.append(x)
    path = np.array(path)
    ax.plot(times, path[:, :20], lw=0.6)
    ax.fill_between(times, alpha_n - 2 * sigma_n, alpha_n + 2 * sigma_n, color="grey", alpha=0.2, label="αx₀ ± 2σ")
    ax.set(title=f"ρ = {rho_value:g}", xlabel="t")
    end_std[rho_value] = path[-1].std()
    se = sigma_n[-1] / np.sqrt(2 * n_paths)
    # Euler bias is O(Δt); the tolerance is 4 standard errors plus that bias scale.
    assert abs(path[-1].std() - sigma_n[-1]) < 4 * se + 5 * (times[1] - times[0]), (rho_value, path[-1].std())
    assert abs(path[-1].mean() - alpha_n[-1]) < 4 * sigma_n[-1] / np.sqrt(n_paths) + 5 * (times[1] - times[0])
axes[0].legend(fontsize=8)
fig.suptitle("CV SDE (C2) given x₀ = 1 on vp-linear: same marginals for every ρ")
fig.tight_layout()
plt.show()
print("end std:", {k: round(float(v), 3) for k, v in end_std.items()}, "σ(T) =", round(float(sigma_n[-1]), 3))

# %% [markdown]
# ## C3: reversing C2 gives the B-family
# The reverse drift a x + b x̂₀ − ρ² g² ∇log p_t, with Tweedie's score, equals B2's drift
# f x + ½(1 + ρ²) λ′ (α x̂₀ − x).

# %%
x, x0_hat = sp.symbols("x hat{x}_0", real=True)
score = (G.alpha * x0_hat - x) / G.sigma**2
assert is_zero(cv_model.cv_reverse_drift(G, x, x0_hat, score) - backward.drift_from_x0(G, x, x0_hat))
print("C3 ✓")

# %% [markdown]
# ## C4: B3 is a member of C1
# With c² = σ_s²(1 − e^{−2ρ²h}), the C1 kernel with x₀ → x̂₀ is the exact step B3.

# %%
c2_b3 = cv_model.exact_step_c2(G, backward.RHO)
show("c^2_{B3}", c2_b3)
c_x, c_x0, c_xi = backward.exact_step_coefficients(G)
kx_b3, k0_b3, _ = cv_model.discrete_kernel(G, c2_b3)
assert is_zero(c_xi**2 - c2_b3)
assert is_zero(kx_b3**2 - c_x**2)  # both positive: compare squares
assert is_zero((alpha_s - c_x * G.alpha) - c_x0)  # k₀ = α_s − k_x α_t with k_x = c_x
print("C4 ✓")

# %% [markdown]
# ## C5: DDIM in SN coordinates
# d(x/α) = ε̂ d(σ/α): along the ρ = 0 path, x/α moves linearly in σ/α = e^{−λ/2} while ε̂ is frozen.

# %%
eps = sp.Symbol("epsilon", real=True)
velocity = cv_model.ddim_sn_velocity(G, eps)
show(r"\frac{d}{dt}\frac{x}{\alpha}", velocity)
# Direct check: with x̂₀ = (x − σ ε)/α, d(x/α)/dt = (drift − f x)/α along B2 at ρ = 0.
x0_from_eps = (x - G.sigma * eps) / G.alpha
drift_rho0 = backward.drift_from_x0(G, x, x0_from_eps, sp.Integer(0))
assert is_zero((drift_rho0 - forward.drift(G) * x) / G.alpha - velocity)
print("C5 ✓")

# %% [markdown]
# ## The registry's checks of C1–C5

# %%
schedules = ["general"] if FAST else ["general", *builtin_names()]
results = suite.run(["C1", "C2", "C3", "C4", "C5"], schedules)
for r in results:
    print(f"{r.claim:3} {r.schedule:16} {r.method:10} {r.status:5} {r.detail}")
assert not [r for r in results if r.status in ("fail", "error")]
