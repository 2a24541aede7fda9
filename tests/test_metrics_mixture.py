"""MMD² to the exact law of a Gaussian mixture (metrics.mmd_to_mixture): the closed-form kernel mean
embedding against quadrature (1-D) and Monte Carlo (3-D, full covariances), the blocked U-statistic
against a dense one, unbiasedness and the jackknife s.e. on exact draws, and injected errors."""

import functools
import math

import numpy as np
import pytest
import torch
from scipy import integrate

from s2n_theory import metrics
from s2n_theory.errors import S2NError
from s2n_theory.gaussian_mixture import GaussianMixture

MIX_1D = GaussianMixture([0.5, 0.3, 0.2], [[-1.5], [0.4], [2.0]], [0.3, 0.05, 0.6])
MIX_3D = GaussianMixture([0.6, 0.4], [[0.0, 1.0, -0.5], [1.2, -0.3, 0.4]],
                         [[[0.5, 0.2, 0.0], [0.2, 0.3, 0.1], [0.0, 0.1, 0.4]],
                          [[0.2, -0.05, 0.0], [-0.05, 0.6, 0.0], [0.0, 0.0, 0.1]]])
QUAD_TOL = 1e-9


def density_1d(y: float) -> float:
    w, mu, var = MIX_1D.weights, MIX_1D.means[:, 0], MIX_1D.covs[:, 0]
    return float(np.sum(w * np.exp(-0.5 * (y - mu) ** 2 / var) / np.sqrt(2 * np.pi * var)))


@functools.lru_cache(maxsize=1)
def quadrature_statistic(x: tuple[float, ...], h2: float) -> float:
    """The one-sample MMD² with E_y k(x_i, y) and E k(y, y') by adaptive quadrature, the U-statistic by a loop."""
    k = lambda a, b: math.exp(-((a - b) ** 2) / (2 * h2))  # noqa: E731
    mean = [integrate.quad(lambda y, xi=xi: k(xi, y) * density_1d(y), -np.inf, np.inf, epsabs=1e-13)[0] for xi in x]
    norm = integrate.dblquad(lambda y, z: k(y, z) * density_1d(y) * density_1d(z), -10, 10, -10, 10,
                             epsabs=1e-11, epsrel=1e-11)[0]
    n = len(x)
    pairs = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    return pairs - 2 * float(np.mean(mean)) + norm


def quadrature_disagreement(statistic) -> float:
    """|statistic − quadrature| relative to the quadrature value's scale, for the 1-D mixture and fixed points."""
    x = (-2.0, -1.1, 0.0, 0.35, 1.7, 3.0)
    reference = quadrature_statistic(x, h2=0.8)
    value = statistic(torch.tensor(x, dtype=torch.float64)[:, None], MIX_1D, math.sqrt(0.8))
    return abs(value - reference) / abs(reference)


def test_closed_form_matches_quadrature_in_1d():
    assert quadrature_disagreement(lambda x, m, h: metrics.mmd_to_mixture(x, m, h).value) < QUAD_TOL


def test_quadrature_check_catches_a_wrong_embedding():
    """Injected error: an embedding that forgets the kernel's width in the covariance (N(x; μ, Σ) instead of
    N(x; μ, Σ + h² I)) is caught by the quadrature comparison."""

    def wrong(x, mixture, h):
        h2 = h**2
        m = metrics._kernel_scale(h2, 1) * torch.exp(mixture.log_prob_at(x, 1.0, 1e-3))
        n = x.shape[0]
        pairs = float(metrics._kernel_row_sums(x, (h2,)).sum()) / (n * (n - 1))
        return pairs - 2 * float(m.mean()) + metrics.mixture_kernel_norm(mixture, h2)

    assert quadrature_disagreement(wrong) > 1e3 * QUAD_TOL


def test_embedding_and_norm_match_monte_carlo_with_full_covariances():
    h2 = 1.3
    y = torch.as_tensor(MIX_3D.sample(400_000, np.random.default_rng(0)))
    y2 = torch.as_tensor(MIX_3D.sample(400_000, np.random.default_rng(1)))
    # ‖m_p‖² = E k(y, y'): independent pairs of exact draws.
    pair = torch.exp(-((y - y2) ** 2).sum(1) / (2 * h2))
    se = float(pair.std()) / math.sqrt(len(pair))
    assert abs(metrics.mixture_kernel_norm(MIX_3D, h2) - float(pair.mean())) < 5 * se
    # m_p(x) = E_y k(x, y) at a few points.
    points = torch.tensor([[0.0, 0.0, 0.0], [1.0, -0.5, 0.2], [-1.0, 2.0, 1.0]], dtype=torch.float64)
    kernel = torch.exp(-torch.cdist(points, y) ** 2 / (2 * h2))
    se = kernel.std(dim=1) / math.sqrt(y.shape[0])
    assert torch.all((metrics.mixture_kernel_mean(MIX_3D, points, h2) - kernel.mean(dim=1)).abs() < 5 * se)


def test_blocked_row_sums_equal_the_dense_sum(monkeypatch):
    x = torch.as_tensor(MIX_3D.sample(301, np.random.default_rng(2)))
    dense = torch.exp(-torch.cdist(x, x) ** 2 / (2 * 3.0))
    expected = dense.sum(1) - 1.0
    monkeypatch.setattr(metrics, "MMD_BLOCK_ENTRIES", 301 * 40)  # several row blocks, a short last one
    rows = metrics._kernel_row_sums(x, (3.0, 0.5))
    assert torch.allclose(rows[0], expected, rtol=1e-13, atol=1e-12)
    assert torch.allclose(rows[1], torch.exp(-torch.cdist(x, x) ** 2 / (2 * 0.5)).sum(1) - 1.0, rtol=1e-13, atol=1e-12)
    one = metrics.mmd_to_mixture(x, MIX_3D, 0.7)
    both = metrics.mmd_to_mixture_bandwidths(x, MIX_3D, (2.0, 0.7))
    assert both[1].value == pytest.approx(one.value, rel=1e-12, abs=1e-15) and both[1].se == pytest.approx(one.se)


def test_unbiased_on_exact_draws_and_jackknife_se_has_the_right_size():
    values, ses = [], []
    for seed in range(40):
        r = metrics.mmd_to_mixture(torch.as_tensor(MIX_3D.sample(400, np.random.default_rng(10 + seed))), MIX_3D)
        values.append(r.value)
        ses.append(r.se)
    values = np.array(values)
    spread = values.std(ddof=1)
    assert abs(values.mean()) < 4 * spread / math.sqrt(len(values))
    # The jackknife is conservative for a degenerate U-statistic (about √2 × the true s.d.), never far below it.
    assert 0.7 < np.mean(ses) / spread < 2.5


def test_a_wrong_law_is_far_beyond_the_standard_error():
    x = torch.as_tensor(MIX_3D.sample(2000, np.random.default_rng(3)))
    shifted = metrics.mmd_to_mixture(x + 0.3, MIX_3D)
    assert shifted.value > 10 * shifted.se


def test_paired_difference_cancels_the_common_noise():
    x = torch.as_tensor(MIX_3D.sample(2000, np.random.default_rng(4)))
    a, b = metrics.mmd_to_mixture(x * 1.05, MIX_3D), metrics.mmd_to_mixture(x * 1.06, MIX_3D)
    diff, se = metrics.paired_mmd_difference(b, a)
    assert diff > 0 and se < 0.5 * min(a.se, b.se)
    assert metrics.paired_mmd_difference(a, a) == (0.0, 0.0)


def test_bad_input_is_named():
    with pytest.raises(S2NError, match="shape"):
        metrics.mmd_to_mixture(torch.zeros(10, 2, dtype=torch.float64), MIX_3D)
    with pytest.raises(S2NError, match="bandwidths"):
        metrics.mmd_to_mixture_bandwidths(torch.zeros(5, 3, dtype=torch.float64), MIX_3D, (1.0, 0.0))
    with pytest.raises(S2NError, match="at least 3"):
        metrics.mmd_to_mixture(torch.zeros(2, 3, dtype=torch.float64), MIX_3D)
    a = metrics.mmd_to_mixture(torch.as_tensor(MIX_3D.sample(10, np.random.default_rng(0))), MIX_3D)
    b = metrics.mmd_to_mixture(torch.as_tensor(MIX_3D.sample(11, np.random.default_rng(0))), MIX_3D)
    with pytest.raises(S2NError, match="paired"):
        metrics.paired_mmd_difference(a, b)


def test_mmd_and_sliced_wasserstein_equal_their_definitions():
    # The product-form kernel sums and the prepared references against the textbook formulas, written
    # out with pairwise differences (unbiased MMD²: the diagonals left out of the within-set means).
    rng = np.random.default_rng(3)
    x = torch.as_tensor(rng.normal(size=(150, 3)))
    y = torch.as_tensor(rng.normal(size=(150, 3)) * 1.2 + 0.1)
    h2 = 0.7**2

    def k(a, b):
        return torch.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * h2))

    n = x.shape[0]
    expected = ((k(x, x).sum() - n) / (n * (n - 1)) + (k(y, y).sum() - n) / (n * (n - 1))
                - 2 * k(x, y).mean())
    assert metrics.mmd(x, y, 0.7) == pytest.approx(float(expected), abs=1e-13)
    assert metrics.MMDReference(y, 0.7)(x) == pytest.approx(float(expected), abs=1e-13)
    dirs = metrics._directions(3, 128, 0, x)
    px, py = torch.sort(x @ dirs, dim=0).values, torch.sort(y @ dirs, dim=0).values
    sw = float(((px - py) ** 2).mean().sqrt())
    assert metrics.sliced_wasserstein(x, y) == pytest.approx(sw, rel=1e-14)
    assert metrics.SlicedReference(y)(x) == pytest.approx(sw, rel=1e-14)
