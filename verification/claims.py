"""Every claim of the theory, stated once: id, title, statement, assumptions, derivation, source.

This is the project's own statement of what ``s2n verify`` proves. ``docs/theory.md`` is
generated from it (:mod:`.theory_doc`), ``s2n claims`` prints it, the report links each row to
it, and :func:`.registry.claim_check` refuses a check whose claim is not stated here.

Notation: a schedule has signal scale α(t) > 0, noise scale σ(t) > 0 and log-SNR
λ(t) = log(α²/σ²), strictly decreasing on its domain; primes are d/dt; data sit at t = 0;
ε, ξ ~ N(0, I); s < t for transitions and backward steps; h = (λ_s − λ_t)/2 > 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from s2n_theory import backward, cv_model, forward, information, multistep, objectives, snspace
from s2n_theory.backward import DELTA, GAMMA, RHO
from s2n_theory.forward import MU, V
from s2n_theory.schedule import Schedule

Derivation = Callable[[Schedule], Mapping[str, Any]]

PARTS = {
    "forward": "Forward process",
    "inference": "Inference quantities",
    "backward": "Generalized backward SDE and its steps",
    "cv": "Non-Markovian continuous variational (CV) model",
    "snspace": "Signal-to-noise space",
    "information": "Information theory",
    "objectives": "Training objectives in signal-to-noise space",
    "sampling": "Sampling and Monte Carlo validation",
    "export": "Exported code",
}
"""Parts of the theory, in document order."""

ASSUME_SCHEDULE = "α, σ > 0 and λ = log(α²/σ²) strictly decreasing and C¹ on the domain"
ASSUME_SMOOTH = ASSUME_SCHEDULE + "; α, λ twice differentiable"


@dataclass(frozen=True)
class Claim:
    """One numbered statement of the theory and where the package derives it."""

    id: str
    part: str
    title: str
    latex: str
    text: str
    assumptions: str
    derived_in: tuple[str, ...]
    reference: str
    derivation: Derivation | None = field(default=None, compare=False)

    def derive(self, schedule: Schedule) -> dict[str, Any]:
        """The claim's derived objects for ``schedule`` (empty when the claim is numeric by nature)."""
        return dict(self.derivation(schedule)) if self.derivation is not None else {}


def _pair(names: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(names, values, strict=True))


CLAIMS: dict[str, Claim] = {}


def _claim(*args: Any, **kwargs: Any) -> None:
    claim = Claim(*args, **kwargs)
    if claim.id in CLAIMS:
        raise ValueError(f"claim {claim.id} stated twice")
    if claim.part not in PARTS:
        raise ValueError(f"claim {claim.id}: unknown part {claim.part!r}")
    CLAIMS[claim.id] = claim


# ---------------------------------------------------------------------------- forward (F)
_claim(
    "F1", "forward", "Drift and diffusion of the forward SDE",
    r"f(t)=\frac{\alpha'(t)}{\alpha(t)},\qquad g(t)^2=-\lambda'(t)\,\alpha(t)^2 e^{-\lambda(t)}"
    r"=-\sigma(t)^2\lambda'(t)=(\sigma^2)'-2f\sigma^2,"
    r"\ \text{and } \mathrm{d}x=f x\,\mathrm{d}t+g\,\mathrm{d}w \text{ has marginals } \mathcal N(\alpha x_0,\sigma^2 I)",
    "The linear SDE dx = f x dt + g dw with f = α'/α and g² = -σ² λ' (equivalently (σ²)' - 2 f σ²) "
    "has exactly the marginals q(x_t | x_0) = N(α(t) x_0, σ(t)² I).",
    ASSUME_SCHEDULE,
    ("s2n_theory.forward.drift", "s2n_theory.forward.diffusion_squared"),
    "S2N paper (Doan et al. 2024), Theorem 1; Song et al. 2021 (score SDE)",
    lambda s: {"f": forward.drift(s), "g2": forward.diffusion_squared(s)},
)
_claim(
    "F2", "forward", "Moment equations",
    r"m'=f\,m,\qquad v'=2f\,v+g^2\qquad\text{for } m=\alpha x_0,\ v=\sigma^2",
    "The mean m = α x_0 and variance v = σ² of the forward marginal solve m' = f m and v' = 2 f v + g².",
    ASSUME_SCHEDULE,
    ("s2n_theory.forward.moment_rates",),
    "Särkkä & Solin 2019, moment ODEs of linear SDEs",
    lambda s: _pair(("m'", "v'"), forward.moment_rates(s, MU, V)),
)
_claim(
    "F3", "forward", "Transition kernel between two times",
    r"q(x_t\mid x_s)=\mathcal N\big(\alpha_{t|s}x_s,\sigma^2_{t|s}I\big),\quad \alpha_{t|s}=\frac{\alpha_t}{\alpha_s},"
    r"\quad \sigma^2_{t|s}=\sigma_t^2-\alpha_{t|s}^2\sigma_s^2=\alpha_t^2\big(e^{-\lambda_t}-e^{-\lambda_s}\big)"
    r"=\int_s^t\Big(\frac{\alpha_t}{\alpha_u}\Big)^2 g_u^2\,\mathrm{d}u",
    "For s < t the forward process moves x_s to x_t with scale α_t/α_s and variance "
    "σ_t² - (α_t/α_s)² σ_s² = α_t² (e^{-λ_t} - e^{-λ_s}), the integral of (α_t/α_u)² g_u² over [s, t]; "
    "the kernels compose (semigroup).",
    ASSUME_SCHEDULE,
    ("s2n_theory.forward.transition", "s2n_theory.forward.transition_variance_integrand"),
    "Kingma et al. 2021 (VDM), Appendix A",
    lambda s: _pair(("alpha_t|s", "sigma2_t|s"), forward.transition(s)),
)
_claim(
    "F4", "forward", "Posterior of an earlier time given the data",
    r"q(x_s\mid x_t,x_0)=\mathcal N\Big(\frac{\alpha_{t|s}\sigma_s^2}{\sigma_t^2}x_t+\frac{\alpha_s\sigma^2_{t|s}}"
    r"{\sigma_t^2}x_0,\ \sigma_s^2\big(1-e^{\lambda_t-\lambda_s}\big)I\Big)",
    "Given x_t and x_0, x_s is Gaussian with mean (α_{t|s} σ_s²/σ_t²) x_t + (α_s σ²_{t|s}/σ_t²) x_0 and "
    "variance σ_s² (1 - e^{λ_t - λ_s}) (Bayes' rule on the two Gaussian kernels).",
    ASSUME_SCHEDULE,
    ("s2n_theory.forward.posterior",),
    "Ho et al. 2020 (DDPM), Eq. 7; Kingma et al. 2021 (VDM)",
    lambda s: _pair(("coefficient of x_t", "coefficient of x_0", "variance"), forward.posterior(s)),
)
_claim(
    "F5", "forward", "Fokker–Planck equation of the marginals",
    r"\partial_t p_t=-\partial_x\big(f\,x\,p_t\big)+\tfrac12 g^2\,\partial_x^2 p_t",
    "For Gaussian data x_0 ~ N(μ, v), and for Gaussian mixtures, the marginal density p_t of the forward "
    "process solves the Fokker–Planck equation of dx = f x dt + g dw.",
    ASSUME_SMOOTH,
    ("s2n_theory.forward.gaussian_marginal", "s2n_theory.forward.fokker_planck_residual"),
    "Øksendal 2003, Kolmogorov forward equation",
    lambda s: _pair(("mean", "variance"), forward.gaussian_marginal(s)),
)

# ---------------------------------------------------------------------------- inference (P)
_claim(
    "P1", "inference", "Tweedie's formula and the prediction targets",
    r"\nabla\log p_t(x)=\frac{\alpha_t\hat x_0-x}{\sigma_t^2}=-\frac{\hat\varepsilon}{\sigma_t},\qquad "
    r"x=\alpha_t\hat x_0+\sigma_t\hat\varepsilon,\quad \hat x_0=\mathbb E[x_0\mid x_t=x],\ "
    r"\hat\varepsilon=\mathbb E[\varepsilon\mid x_t=x]",
    "The score of the marginal equals (α x̂_0 - x)/σ² = -ε̂/σ, where x̂_0 and ε̂ are posterior means and "
    "x = α x̂_0 + σ ε̂; every prediction target (x_0, ε, score, v = α ε - σ x_0) converts into the others.",
    "α, σ > 0 at t; x_0 with finite second moment",
    ("s2n_theory.inference.score_from_x0", "s2n_theory.inference.eps_from_x0", "s2n_theory.inference.x0_from_v"),
    "Efron 2011 (Tweedie's formula); Salimans & Ho 2022 (v-prediction)",
)
_claim(
    "P2", "inference", "EDM denoisers under any schedule",
    r"\hat x_0(x,t)=D\big(x/\alpha_t;\ \bar\sigma=e^{-\lambda_t/2}\big)\quad\text{for } D \text{ trained on } "
    r"y=x_0+\bar\sigma\varepsilon",
    "A denoiser D(y; σ̄) of the variance-exploding process y = x_0 + σ̄ ε gives the posterior mean of any "
    "schedule through x̂_0(x, t) = D(x/α_t; e^{-λ_t/2}), since x_t/α_t = x_0 + (σ_t/α_t) ε.",
    "α > 0 at t",
    ("s2n_theory.inference.x0_from_edm", "s2n_theory.inference.edm_noise_level"),
    "Karras et al. 2022 (EDM), Section 2",
)
_claim(
    "P3", "inference", "Exact oracle for Gaussian-mixture data",
    r"p_t=\sum_k\pi_k\,\mathcal N\big(\alpha_t\mu_k,\ \alpha_t^2\Sigma_k+\sigma_t^2 I\big),\qquad "
    r"\hat x_0=\sum_k w_k(x)\Big(\mu_k+\alpha_t\Sigma_k\big(\alpha_t^2\Sigma_k+\sigma_t^2I\big)^{-1}"
    r"(x-\alpha_t\mu_k)\Big)",
    "For data Σ_k π_k N(μ_k, Σ_k), the marginal, its score and the posterior mean x̂_0 are closed form "
    "under every schedule (w_k are the component responsibilities); this is the ground truth of the "
    "numeric and Monte Carlo checks.",
    "Σ_k positive semi-definite; α, σ > 0 at t",
    ("s2n_theory.gaussian_mixture.GaussianMixture", "s2n_theory.gaussian_mixture.eigen_terms"),
    "Bishop 2006, Section 2.3 (conjugate Gaussian posteriors)",
)

# ---------------------------------------------------------------------------- backward (B)
_claim(
    "B1", "backward", "The ρ-family of backward SDEs shares the marginals",
    r"\mathrm{d}x=\Big[f x-\tfrac{1+\rho(t)^2}{2}\,g^2\,\nabla\log p_t(x)\Big]\mathrm{d}t+\rho(t)\,g\,\mathrm{d}\bar w",
    "Run from the noise end towards the data, every member of this family (any ρ(t) ≥ 0; ρ = 0 is the "
    "probability-flow ODE, ρ = 1 the reverse SDE) has the forward marginals p_t.",
    ASSUME_SMOOTH + "; ρ(t) ≥ 0",
    ("s2n_theory.backward.drift_from_score", "s2n_theory.backward.noise_variance_rate"),
    "S2N paper, Theorems 2–3; Zhang & Chen 2022 (gDDIM), Eq. 16; Song et al. 2021",
    lambda s: {"drift": backward.drift_from_score(s, sp.Symbol("x"), sp.Symbol("score")),
               "noise variance rate": backward.noise_variance_rate(s)},
)
_claim(
    "B2", "backward", "Data-prediction form of the backward family",
    r"\mathrm{d}x=\Big[f x+\tfrac{1+\rho^2}{2}\,\lambda'\,\big(\alpha\hat x_0-x\big)\Big]\mathrm{d}t"
    r"+\rho\,\sigma\sqrt{-\lambda'}\,\mathrm{d}\bar w",
    "Written with the posterior mean x̂_0 instead of the score (P1), the drift is "
    "f x + (1+ρ²)/2 · λ' (α x̂_0 - x) and the noise coefficient ρ σ √(-λ').",
    ASSUME_SMOOTH + "; ρ(t) ≥ 0",
    ("s2n_theory.backward.drift_from_x0", "s2n_theory.backward.noise_scale_data_form",
     "s2n_theory.backward.drift_coefficients", "s2n_theory.backward.euler_maruyama_step_coefficients"),
    "S2N paper, Theorem 3; Lu et al. 2022 (DPM-Solver++)",
    lambda s: {"drift": backward.drift_from_x0(s, sp.Symbol("x"), sp.Symbol("x0_hat")),
               "noise scale": backward.noise_scale_data_form(s)},
)
_claim(
    "B3", "backward", "Exact step with the data prediction frozen",
    r"x_s=\frac{\sigma_s}{\sigma_t}e^{-\rho^2h}x_t+\alpha_s\big(1-e^{-(1+\rho^2)h}\big)\hat x_0"
    r"+\sigma_s\sqrt{1-e^{-2\rho^2h}}\,\xi,\qquad h=\frac{\lambda_s-\lambda_t}{2}",
    "Holding x̂_0 fixed on [s, t] makes the B2 form linear; its exact solution is this step. ρ = 0 is "
    "DDIM and ρ = 1 is the ancestral step that samples the posterior F4.",
    ASSUME_SCHEDULE + "; ρ constant on the step",
    ("s2n_theory.backward.exact_step_coefficients", "s2n_theory.backward.step_h"),
    "S2N paper, Theorem 3; Song, Meng & Ermon 2021 (DDIM); Lu et al. 2022 (DPM-Solver++(1))",
    lambda s: _pair(("c_x", "c_x0", "c_noise"), backward.exact_step_coefficients(s, RHO)),
)
_claim(
    "B4", "backward", "Parametric step with the sampler parameters γ and δ",
    r"\hat\varepsilon_\gamma=(1+\gamma)\,\varepsilon_\theta\ \Leftrightarrow\ \hat x_{0,\gamma}=(1+\gamma)x_\theta"
    r"-\gamma\,x/\alpha_t,\qquad \xi\to(1+\delta)\,\xi\ \text{in B3}",
    "This toolkit's parameterization of the S2N paper's sampler hyperparameters: scale the model's noise "
    "prediction by (1+γ) and the injected noise by (1+δ) in the B3 step (and likewise in Euler–Maruyama "
    "and Heun); γ = δ = 0 is B3 with the model.",
    ASSUME_SCHEDULE,
    ("s2n_theory.backward.parametric_step_coefficients", "s2n_theory.backward.parametric_x0",
     "s2n_theory.backward.step_coefficients"),
    "S2N paper, Corollary 1 (the idea; γ, δ are this toolkit's parameterization)",
    lambda s: _pair(("c_x", "c_theta", "c_noise"), backward.parametric_step_coefficients(s, RHO, GAMMA, DELTA)),
)

_claim(
    "B5", "backward", "Multistep exponential integrators for every ρ",
    r"x_s=\frac{\sigma_s}{\sigma_t}e^{-\rho^2h}x_t+\alpha_s\sum_{i<k}\Big(\sum_j L_{ij}\,\psi_j\big((1+\rho^2)h\big)"
    r"\Big)\hat x_0^{(i)}+\sigma_s\sqrt{1-e^{-2\rho^2h}}\,\xi,\qquad "
    r"\psi_j(z)=\int_0^1 z\,e^{-z(1-u)}u^j\,\mathrm du",
    "Replacing the frozen x̂_0 of B3 by the polynomial in half log-SNR through the last k evaluations and "
    "integrating it exactly against the step's kernel (1+ρ²) e^{-(1+ρ²)(h-τ)} gives closed-form weights "
    "α_s Σ_j L_ij ψ_j((1+ρ²)h) (L_ij: Lagrange coefficients of the nodes), evaluated stably for small h by series. "
    "The x_t and noise terms are those of B3. k = 2 at ρ = 0 is DPM-Solver++(2M) (exact-integral form) and at "
    "ρ = 1 SDE-DPM-Solver++(2M).",
    ASSUME_SCHEDULE + "; ρ constant on the step; previous evaluations at known λ",
    ("s2n_theory.multistep.weights", "s2n_theory.multistep.moment", "s2n_theory.multistep.psi"),
    "Lu et al. 2022 (DPM-Solver++), Section 4; Zhang & Chen 2022 (DEIS); Zhao et al. 2023 (UniPC, corrector)",
    lambda s: {f"psi_{j}(z)": multistep.psi(j) for j in range(3)},
)
_claim(
    "B6", "backward", "Order of the multistep integrators",
    r"\hat x_0(\tau)\in\mathbb P_{k-1}\ \Rightarrow\ \text{the }k\text{-node step is exact};\qquad "
    r"\text{local error}=O(h^{k+1})\ \text{for smooth }\hat x_0",
    "The k-node step integrates polynomials of degree below k in λ exactly, so its local error is O(h^{k+1}) for a "
    "smooth data prediction (deterministic order k; weak order for ρ > 0 with B3's exact noise).",
    ASSUME_SMOOTH + "; x̂₀ smooth in λ along the path",
    ("s2n_theory.multistep.weights", "s2n_theory.multistep.lagrange_coefficients"),
    "Hochbruck & Ostermann 2010 (exponential integrators); Lu et al. 2022 (DPM-Solver++)",
)

# ---------------------------------------------------------------------------- CV model (C)
_claim(
    "C1", "cv", "A family of non-Markovian kernels with the forward marginals",
    r"q_c(x_s\mid x_t,x_0)=\mathcal N\Big(\alpha_s x_0+\sqrt{\sigma_s^2-c^2}\,\frac{x_t-\alpha_t x_0}{\sigma_t},"
    r"\ c^2 I\Big),\quad 0\le c\le\sigma_s",
    "Every kernel of this family keeps q(x_s | x_0) = N(α_s x_0, σ_s²); the choice c² = σ_s²(1 - e^{λ_t-λ_s}) is "
    "the Markov posterior F4.",
    ASSUME_SCHEDULE + "; 0 ≤ c ≤ σ_s",
    ("s2n_theory.cv_model.discrete_kernel", "s2n_theory.cv_model.markov_c2"),
    "S2N paper, Theorem 4; Song, Meng & Ermon 2021 (DDIM), Eq. 7",
    lambda s: _pair(("coefficient of x_t", "coefficient of x_0", "variance"), cv_model.discrete_kernel(s)),
)
_claim(
    "C2", "cv", "Continuous CV SDE conditioned on the data",
    r"\mathrm{d}x=\big[a\,x+b\,x_0\big]\mathrm{d}t+\rho\,g\,\mathrm{d}w,\qquad "
    r"a=\frac{\sigma'}{\sigma}+\tfrac12\rho^2\lambda',\quad b=\alpha'-a\,\alpha",
    "For every ρ(t) ≥ 0 this SDE, started from the data, has marginals N(α x_0, σ²); ρ = 1 gives a = f, b = 0 "
    "(the forward SDE F1) and ρ = 0 the deterministic DDIM path.",
    ASSUME_SMOOTH + "; ρ(t) ≥ 0",
    ("s2n_theory.cv_model.cv_sde",),
    "S2N paper, Theorem 4",
    lambda s: _pair(("a", "b", "noise variance rate"), cv_model.cv_sde(s)),
)
_claim(
    "C3", "cv", "Reversing the CV SDE gives the backward family",
    r"\text{reverse of C2 with } x_0\to\hat x_0 \;=\; \text{drift of B1 with the same }\rho",
    "Time-reversing the C2 SDE and replacing x_0 by its posterior mean gives exactly the B-family drift with "
    "the same ρ.",
    ASSUME_SMOOTH + "; ρ(t) ≥ 0",
    ("s2n_theory.cv_model.cv_reverse_drift",),
    "S2N paper, Theorem 4; Anderson 1982 (time reversal)",
)
_claim(
    "C4", "cv", "The exact step is a member of the CV family",
    r"\text{B3} = q_c \text{ of C1 with } c^2=\sigma_s^2\big(1-e^{-2\rho^2h}\big)",
    "The B3 step coincides with the C1 kernel whose variance is σ_s²(1 - e^{-2ρ²h}).",
    ASSUME_SCHEDULE + "; ρ constant on the step",
    ("s2n_theory.cv_model.exact_step_c2",),
    "S2N paper, Theorem 4 and Corollary 1",
    lambda s: {"c2": cv_model.exact_step_c2(s, RHO)},
)
_claim(
    "C5", "cv", "DDIM in signal-to-noise coordinates",
    r"\mathrm{d}\Big(\frac{x}{\alpha}\Big)=\hat\varepsilon\;\mathrm{d}\Big(\frac{\sigma}{\alpha}\Big)",
    "Along the deterministic DDIM path, x/α moves by ε̂ times the change of σ/α.",
    ASSUME_SCHEDULE,
    ("s2n_theory.cv_model.ddim_sn_velocity",),
    "Song, Meng & Ermon 2021 (DDIM), Eq. 14",
    lambda s: {"d(x/alpha)/dt": cv_model.ddim_sn_velocity(s, sp.Symbol("eps_hat"))},
)

# ---------------------------------------------------------------------------- SN space (S)
_claim(
    "S1", "snspace", "Diffusion in signal-to-noise space is a Brownian motion",
    r"u=e^{-\lambda(t)},\ y=\frac{x_t}{\alpha_t}:\qquad y(u)=x_0+W(u),\quad "
    r"\text{and Itô on } x=\alpha(t)\,y(u(t)) \text{ recovers F1}",
    "In the coordinates u = e^{-λ(t)} (inverse SNR) and y = x/α every schedule's forward process is a standard "
    "Brownian motion in u started at the data; Itô's formula maps it back to the F1 SDE.",
    ASSUME_SCHEDULE,
    ("s2n_theory.snspace.sn_coordinates", "s2n_theory.snspace.ito_from_sn"),
    "S2N paper, Theorem 5; Kingma et al. 2021 (VDM), Appendix",
    lambda s: {**_pair(("u", "y"), snspace.sn_coordinates(s)), **_pair(("drift", "g2"), snspace.ito_from_sn(s))},
)
_claim(
    "S2", "snspace", "Schedules with the same λ range share the SN-space process",
    r"\text{same }\lambda\text{-grid and denoiser} \Rightarrow \text{same } y\text{-trajectory of B3 under any schedule}",
    "Two schedules that cover the same log-SNR range induce the same process in SN space; in particular the "
    "exact step on a common λ-grid with a common denoiser produces the same y = x/α path.",
    ASSUME_SCHEDULE,
    ("s2n_theory.snspace.sn_trajectory",),
    "S2N paper, Theorem 5",
)
_claim(
    "S3", "snspace", "The diffusion loss depends only on the λ endpoints",
    r"-\tfrac12\int_{t_{\min}}^{t_{\max}}\lambda'(t)\,e^{\lambda(t)}\,\mathbb E\|x_0-\hat x_0\|^2\,\mathrm{d}t"
    r"=\tfrac12\int_{\lambda_{\min}}^{\lambda_{\max}}e^{\lambda}\,\mathrm{mmse}(e^{\lambda})\,\mathrm{d}\lambda",
    "The continuous-time diffusion loss is a change of variables away from an integral over λ, so it depends "
    "on the schedule only through λ at the two ends.",
    ASSUME_SCHEDULE,
    ("s2n_theory.snspace.loss_integrand_t", "s2n_theory.snspace.loss_integrand_log_snr"),
    "Kingma et al. 2021 (VDM), Section 5",
    lambda s: {"integrand in t": snspace.loss_integrand_t(s)},
)

# ---------------------------------------------------------------------------- information (I)
_claim(
    "I1", "information", "I-MMSE relation",
    r"\frac{\mathrm d I}{\mathrm d\,\mathrm{snr}}=\tfrac12\,\mathrm{mmse}(\mathrm{snr}),\qquad "
    r"\frac{\mathrm d I}{\mathrm d\lambda}=\tfrac12 e^{\lambda}\,\mathrm{mmse}(e^{\lambda}),\qquad "
    r"y=\sqrt{\mathrm{snr}}\,x_0+\varepsilon",
    "For the Gaussian channel y = √snr x_0 + ε, the mutual information I(x_0; y) grows at half the minimum "
    "mean-square error of estimating x_0 from y; in λ = log snr the rate is ½ e^λ mmse.",
    "x_0 with finite second moment; snr ≥ 0",
    ("s2n_theory.information.dI_dsnr_from_mmse", "s2n_theory.information.dI_dlog_snr_from_mmse"),
    "Guo, Shamai & Verdú 2005",
    lambda s: {"dI/dsnr (Gaussian data of variance v)": sp.diff(information.gaussian_mutual_information_expr(),
                                                                 information.SNR)},
)
_claim(
    "I2", "information", "Information decay along a schedule",
    r"\frac{\mathrm d}{\mathrm dt}I(x_0;x_t)=\tfrac12\,\lambda'(t)\,e^{\lambda(t)}\,\mathrm{mmse}\big(e^{\lambda(t)}\big)\le 0",
    "Along any schedule, I(x_0; x_t) = I(e^{λ(t)}) decreases at rate ½ λ' e^λ mmse(e^λ).",
    ASSUME_SCHEDULE,
    ("s2n_theory.information.time_rate",),
    "S2N paper, Theorem 6",
)
_claim(
    "I3", "information", "Derivative of the MMSE",
    r"\frac{\mathrm d\,\mathrm{mmse}}{\mathrm d\,\mathrm{snr}}=-\mathbb E\big[\operatorname{tr}\big(\mathrm{Cov}[x_0\mid y]^2\big)\big]",
    "The MMSE decreases with the SNR at the rate of the expected squared posterior covariance.",
    "x_0 with finite fourth moment; snr > 0",
    ("s2n_theory.information.gaussian_posterior_variance_expr", "s2n_theory.information.mmse_derivative"),
    "Guo, Wu, Shamai & Verdú 2011",
    lambda s: {"posterior variance (Gaussian data)": information.gaussian_posterior_variance_expr()},
)
_claim(
    "I4", "information", "Pointwise likelihood from denoising errors",
    r"-\log p(x_0)=\frac d2\log(2\pi e)-\frac12\int_0^\infty\Big(\frac{d}{1+\mathrm{snr}}-\mathrm{mmse}(x_0,\mathrm{snr})"
    r"\Big)\mathrm d\,\mathrm{snr}",
    "The negative log-density of a data point is an integral over SNR of the gap between the Gaussian "
    "reference error d/(1+snr) and the point's own denoising error E_ε‖x_0 - x̂_0(√snr x_0 + ε)‖²; "
    "averaged over x_0 it gives the differential entropy.",
    "a density p with finite second moment, d = dimension",
    ("s2n_theory.information.likelihood_estimate", "s2n_theory.information.kong_integrand"),
    "Kong, Brekelmans & Ver Steeg 2023 (information-theoretic diffusion)",
)
_claim(
    "I5", "information", "The optimal diffusion loss is an information difference",
    r"-\tfrac12\int_{t_{\min}}^{t_{\max}}\lambda'\,e^{\lambda}\,\mathrm{mmse}(e^{\lambda})\,\mathrm dt"
    r"=I(x_0;x_{t_{\min}})-I(x_0;x_{t_{\max}})",
    "With the optimal denoiser, the continuous-time diffusion loss (S3) equals the information lost between the "
    "two ends (I1), whatever the schedule.",
    ASSUME_SCHEDULE,
    ("s2n_theory.snspace.loss_integrand_t", "s2n_theory.information.gaussian_mutual_information_expr"),
    "S2N paper, Theorem 6; Kingma et al. 2021 (VDM)",
)

# ---------------------------------------------------------------------------- training objectives (W)
_OBJECTIVE_CONVENTION = (
    "Convention: a loss is L = ½ ∫ w(λ) E‖ε̂ − ε‖² dλ over the schedule's λ range (Kingma & Gao); a recipe with time "
    "density p(t) and weight m(t) on its own target's squared error has w(λ) = p(t) m(t) c(t) / |λ'(t)| at t = t(λ)")
_claim(
    "W1", "objectives", "Every prediction target is a weighted ε-loss",
    r"h=A\,x_t+B\,\varepsilon\ \Rightarrow\ \|\hat h-h\|^2=c\,\|\hat\varepsilon-\varepsilon\|^2,\quad c=B^2:\ "
    r"c_{x_0}=e^{-\lambda},\ c_v=\alpha^2(1+e^{-\lambda})^2,\ c_{\nabla\log p}=\frac{e^{\lambda}}{\alpha^2},\ "
    r"c_{\text{flow}}=\frac{\sigma^2\lambda'^2}{4},\ c_{F}=\frac{e^{-\lambda}+\sigma_d^2}{\sigma_d^2}",
    "Given x_t, each common target (x_0, ε, v, score, rectified-flow velocity, EDM's F with σ_data) is an affine "
    "function A x_t + B ε of the noise, so its squared error is B² times the ε-error; the factor c = B² is derived "
    "for any schedule. " + _OBJECTIVE_CONVENTION + ".",
    ASSUME_SCHEDULE + "; σ_data > 0 for EDM",
    ("s2n_theory.objectives.target", "s2n_theory.objectives.conversion_factor"),
    "Kingma & Gao 2023 (Understanding diffusion objectives), Appendix; Karras et al. 2022 (EDM), Table 1",
    lambda s: {f"c[{p}]": objectives.conversion_factor(p, s) for p in ("x0", "v", "score", "flow")},
)
_claim(
    "W2", "objectives", "The ELBO weighting and its schedule invariance",
    r"w\equiv1:\quad L=\tfrac12\int_{\lambda_{\min}}^{\lambda_{\max}}\mathbb E\|\hat\varepsilon-\varepsilon\|^2"
    r"\,\mathrm d\lambda,\ \text{the same for every schedule with the same }\lambda\text{ ends}",
    "The textbook ELBO weights of each target (−λ' for ε, −λ' e^λ for x_0, g² for the score, …) all give w ≡ 1, "
    "and with w ≡ 1 the loss is a change of variables away from an integral over λ, so it depends on the schedule "
    "only through λ at the two ends.",
    ASSUME_SCHEDULE,
    ("s2n_theory.objectives.elbo_weight", "s2n_theory.objectives.loss_integrand_t"),
    "Kingma et al. 2021 (VDM), Section 5; Kingma & Gao 2023",
    lambda s: {f"ELBO weight m(t) [{p}]": objectives.elbo_weight(p, s) for p in ("eps", "x0", "score")},
)
_claim(
    "W3", "objectives", "Recipes with the same w(λ) and λ-density are one objective",
    r"\big(w_1,\,p_{\lambda,1}\big)=\big(w_2,\,p_{\lambda,2}\big)\ \Rightarrow\ L_1=L_2",
    "Two recipes (schedule, target, time density, weight) that imply the same weighting w(λ) and the same density "
    "of λ have the same loss, for every model: e.g. ε-prediction equals SNR-weighted x_0-prediction, EDM's F-loss "
    "equals its D-loss, and v-prediction on a cosine schedule is a particular weighting of x_0.",
    ASSUME_SCHEDULE,
    ("s2n_theory.objectives.implied_weighting", "s2n_theory.recipes.equivalent_recipe"),
    "Kingma & Gao 2023; Salimans & Ho 2022 (v-prediction); Lipman et al. 2023 (flow matching)",
)

# ---------------------------------------------------------------------------- sampling (M, GPU)
_claim(
    "M1", "sampling", "Simulated forward paths have the forward marginals",
    r"\text{Euler–Maruyama paths of F1 from } x_0:\quad x_t\sim\mathcal N(\alpha_t x_0,\sigma_t^2)",
    "Forward paths simulated by Euler–Maruyama from a fixed x_0 match N(α_t x_0, σ_t²) in mean, variance and "
    "distribution (z- and KS tests with a stated false-alarm rate).",
    ASSUME_SCHEDULE,
    ("s2n_theory.sampling.forward.simulate_forward",),
    "Kloeden & Platen 1992",
)
_claim(
    "M2", "sampling", "Samplers land on the data distribution",
    r"x_T\sim p_T\ \xrightarrow{\ \text{sampler, exact }\hat x_0\ }\ x_{t_{\min}}\sim p_{t_{\min}}",
    "Started from the exact p_T and driven by the exact oracle, every sampler and every ρ ends at the mixture's "
    "p_{t_min} (sliced Wasserstein and MMD below thresholds taken from the oracle's own sampling spread).",
    ASSUME_SCHEDULE,
    ("s2n_theory.sampling.engine.sample",),
    "S2N paper, Theorems 2–3",
)
_claim(
    "M3", "sampling", "Backward paths have the marginals at every time",
    r"x_t\sim p_t\ \text{ at intermediate times along every } \rho \text{-family path}",
    "At intermediate times the backward paths of the ρ-family follow the marginals p_t (KS tests against the "
    "exact mixture CDF).",
    ASSUME_SCHEDULE,
    ("s2n_theory.sampling.engine.sample",),
    "S2N paper, Theorems 2–3",
)
_claim(
    "M4", "sampling", "Measured convergence orders",
    r"\text{error}\propto N^{-p}:\ p_{\text{strong}}(\text{EM})=1,\ p_{\text{weak}}(\text{EM})=1,\ "
    r"p(\text{Euler})=p(\text{exact})=1,\ p(\text{Heun})=2",
    "Log-log fits of the error against the number of steps recover the theoretical orders of each method.",
    ASSUME_SMOOTH,
    ("s2n_theory.sampling.engine.sample", "s2n_theory.sampling.forward.simulate_forward"),
    "Kloeden & Platen 1992; Karras et al. 2022 (Heun)",
)
_claim(
    "GPU", "sampling", "The sampler at scale on CUDA",
    r"\text{CUDA run} = \text{CPU run (float64)},\ \text{M2 holds at } n=2\cdot10^5",
    "On a CUDA device the sampler lands on the data at large sample sizes, agrees with the CPU run to float64 "
    "round-off, and its throughput is measured.",
    "a CUDA device",
    ("s2n_theory.sampling.engine.sample",),
    "—",
)

# ---------------------------------------------------------------------------- export (X)
_claim(
    "X1", "export", "Exported code agrees with the derivations",
    r"\max\frac{|\text{exported}-\text{SymPy}_{50\text{ digits}}|}{|\text{SymPy}|}\le10^{-12}\ (\text{float64}),"
    r"\ 10^{-5}\ (\text{float32})",
    "The generated numpy/torch/C code of α, σ, λ, SNR, f, g², λ', the F3 kernel and t(λ) matches 50-digit "
    "evaluation of the symbolic derivations and is finite in float32 and float64 across the domain, endpoints "
    "included.",
    ASSUME_SCHEDULE,
    ("s2n_theory.codegen.export", "s2n_theory.numeric_schedule.compile_schedule"),
    "—",
)


def claim(claim_id: str) -> Claim:
    """The stated claim ``claim_id`` (case-insensitive)."""
    return CLAIMS[claim_id.strip().upper()]
