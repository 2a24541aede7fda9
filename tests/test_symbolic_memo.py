"""The symbolic memo: stored derivations and compiled source are served only while active, and exactly."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch

from s2n_theory import backward, symbolic_memo
from s2n_theory.arrays import compile_expression
from s2n_theory.time_limit import loads_verbatim
from s2n_theory.verification import suite
from s2n_theory.verification.cache import Cache

x, y = sp.symbols("x y", real=True)
EXPR = sp.exp(-x) * sp.sin(y) + sp.log(1 + x**2) / (2 + sp.cos(y)) + sp.sqrt(2) * sp.erf(x)


@pytest.fixture
def memo():
    symbolic_memo.activate({})
    yield symbolic_memo
    symbolic_memo.deactivate()


def _stored_and_reloaded(memo) -> None:
    """Start again from what was stored, through a pickle as a later run reads it."""
    memo.activate(loads_verbatim(__import__("pickle").dumps(memo.new_entries())))


def test_inactive_memo_computes_every_time() -> None:
    calls = []
    for _ in range(2):
        symbolic_memo.derived("test", (x,), lambda: calls.append(1) or x)
    assert len(calls) == 2 and symbolic_memo.new_entries() == {}


def test_derived_value_is_served_for_an_equal_input_only(memo) -> None:
    calls = []
    assert memo.derived("test", (x + y,), lambda: calls.append(1) or sp.Integer(3)) == 3
    _stored_and_reloaded(memo)
    assert memo.derived("test", (y + x,), lambda: pytest.fail("computed again")) == 3
    # Same name, other assumptions: another symbol, another entry.
    assert memo.derived("test", (sp.Symbol("x") + y,), lambda: calls.append(1) or sp.Integer(4)) == 4
    assert memo.derived("other", (x + y,), lambda: calls.append(1) or sp.Integer(5)) == 5
    assert len(calls) == 3


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_compiled_expression_rebuilt_from_source_gives_the_same_values(memo, monkeypatch, backend) -> None:
    fresh = compile_expression([x, y], EXPR, backend)
    _stored_and_reloaded(memo)
    monkeypatch.setattr(sp, "lambdify", lambda *a, **k: pytest.fail("printed again"))
    rebuilt = compile_expression([x, y], EXPR, backend)
    grid = np.linspace(-2.0, 2.0, 7)
    inputs = (grid, grid[::-1]) if backend == "numpy" else (torch.tensor(grid), torch.tensor(grid[::-1].copy()))
    np.testing.assert_array_equal(np.asarray(rebuilt(*inputs)), np.asarray(fresh(*inputs)))


def test_mpmath_function_rebuilt_from_source_gives_the_same_values(memo) -> None:
    fresh = symbolic_memo.lambdify([x, y], [EXPR, EXPR**2], "mpmath")
    _stored_and_reloaded(memo)
    rebuilt = symbolic_memo.lambdify([x, y], [EXPR, EXPR**2], "mpmath")
    assert rebuilt is not fresh
    with mpmath.workdps(40):
        assert rebuilt(mpmath.mpf("0.3"), mpmath.mpf("1.1")) == fresh(mpmath.mpf("0.3"), mpmath.mpf("1.1"))


def test_a_second_cached_run_derives_nothing_again_and_a_run_without_cache_does(tmp_path, monkeypatch) -> None:
    cache = Cache(tmp_path)
    # As in a new process: none of this process's compiled step coefficients (earlier tests may have made them).
    backward.numeric_coefficients.cache_clear()
    backward._numeric_forms.cache_clear()
    first = suite.run(["B3"], ["vp-linear"], cache=cache, jobs=1)
    assert not symbolic_memo.is_active()  # the run stopped it
    assert len(cache.load_memo()) > 0
    monkeypatch.setattr(backward, "_numeric_form", lambda *a: pytest.fail("derived again"))
    backward.numeric_coefficients.cache_clear()
    backward._numeric_forms.cache_clear()
    again = suite.run(["B3"], ["vp-linear"], cache=cache, jobs=1)
    numeric = [r for r in again if r.method == "numeric"]
    assert numeric and all(r.status == "pass" for r in numeric)
    assert [r.status for r in again] == [r.status for r in first]
    # Without a cache the memo is off: the (here replaced) derivation is called, as an injected error would be.
    backward.numeric_coefficients.cache_clear()
    try:
        with pytest.raises(BaseException, match="derived again"):
            backward.numeric_form(sp.Symbol("t"))
    finally:
        backward.numeric_coefficients.cache_clear()


def test_stored_files_are_merged_and_other_code_versions_removed(tmp_path) -> None:
    cache = Cache(tmp_path)
    cache.save_memo({"a": 1})
    cache.save_memo({"b": 2})
    stale = tmp_path / "memo" / "an-older-fingerprint"
    stale.mkdir(parents=True)
    (stale / "x.pickle").write_bytes(b"old")
    assert cache.load_memo() == {"a": 1, "b": 2}
    assert not stale.exists()
    assert len(list((tmp_path / "memo").rglob("*.pickle"))) == 1
    assert cache.load_memo() == {"a": 1, "b": 2}
