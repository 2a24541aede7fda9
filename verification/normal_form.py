"""A fast, sound zero test for schedule identities: rational normal form in exponential generators.

Most residuals of the B and C claims on a concrete schedule are rational functions
of a few real exponentials of t and s (e^{B(t)} for VP rates, e^{λ(t)}) and of square
roots of such functions. SymPy's
``simplify`` struggles with them, but the following rewrites are exact identities
(for the positive quantities α, σ, variances that appear, which is what
``expand_log(force=True)`` and ``expand_power_base(force=True)`` assume, as in
:mod:`verification.prove`):

1. ``doit``, split logarithms (SymPy itself then writes ``exp(c log u + a)`` as ``u^c e^a``),
   split powers of products (``(a b)^c → a^c b^c``, again for positive a, b); trigonometric
   functions stay atoms;
   ``|u|`` (and ``sign(u)``) of a function of one time without zeros on the schedule's domain
   becomes ``±u`` (``±1``); split ``exp(a + b + …)`` into one factor per term of its argument;
2. every ``exp(c·m)`` with rational c and the same primitive part m becomes
   ``Y_m^k`` with an integer k (Y_m = exp(m/q), q the lcm of the denominators);
3. ``together`` over a common denominator and ``expand`` the numerator: a rational function
   is identically 0 exactly when its numerator expands to 0 (the decision ``cancel`` would make,
   without its gcd of numerator and denominator, which took most of the time).

If the result is exactly 0 the identity holds; otherwise nothing is concluded and
:func:`verification.prove.prove_identity` goes on with SymPy's own rewrites.
"""

from __future__ import annotations

from functools import reduce

import sympy as sp

from s2n_theory.symbols import S, T
from s2n_theory.time_limit import TimeLimitExceeded, call_within

NORMAL_FORM_SECONDS = 6.0
"""Budget for the normal form of one residual before handing it to prove_identities."""


def _generators(expr: sp.Expr) -> tuple[dict[sp.Expr, sp.Expr], dict[sp.Symbol, sp.Expr]]:
    """exp(c·m) → Y_m^k (step 2), and the way back Y_m → exp(m/q)."""
    groups: dict[sp.Expr, list[tuple[sp.Expr, sp.Rational]]] = {}
    for atom in expr.atoms(sp.exp):
        if not atom.args[0].is_real:
            continue
        content, primitive = sp.sympify(atom.args[0]).as_content_primitive()
        if primitive.could_extract_minus_sign():
            content, primitive = -content, -primitive
        if not content.is_Rational:
            continue
        groups.setdefault(primitive, []).append((atom, sp.Rational(content)))
    replacements: dict[sp.Expr, sp.Expr] = {}
    inverse: dict[sp.Symbol, sp.Expr] = {}
    for index, (primitive, members) in enumerate(groups.items()):
        q = reduce(sp.ilcm, [c.q for _, c in members], 1)
        y = sp.Symbol(f"_Y{index}", positive=True)
        inverse[y] = sp.exp(primitive / q)
        for atom, c in members:
            replacements[atom] = y ** int(c * q)
    return replacements, inverse


def _split_exponentials(expr: sp.Expr) -> sp.Expr:
    """exp(a + b + …) → exp(a) exp(b) …: one factor per term of the expanded argument.

    One factor per term (not per group of terms) makes exponentials of different combinations of
    the same terms powers of the same generators: exp(−199t²/40 − t/20) and exp(−199t²/20 − t/10)
    of a VP schedule become Y₁^−199 Y₂^−1 and Y₁^−398 Y₂^−2 (Y₁ = e^{t²/40}, Y₂ = e^{t/20}), whose
    relation ``cancel`` sees; as separate generators they would look independent.
    """
    replacements = {}
    for atom in expr.atoms(sp.exp):
        terms = sp.Add.make_args(sp.expand(atom.args[0]))
        if len(terms) > 1:
            replacements[atom] = sp.Mul(*[sp.exp(term) for term in terms])
    return expr.xreplace(replacements)


def _resolve_abs(expr: sp.Expr, domain: tuple[float, float] | None) -> sp.Expr:
    """|u(v)| → ±u(v) and sign(u(v)) → ±1 for u of one time variable that is continuous and has no
    zero on the domain (sign(u) comes with |u| in derivatives).

    Continuity (``continuous_domain``) and the absence of zeros (``solveset``) are decided by
    SymPy on the closed interval; the sign then follows from u at the midpoint (exact when SymPy
    can decide it, else from a 30-digit value far from 0). Atoms not settled this way stay.
    """
    if domain is None:
        return expr
    interval = sp.Interval(sp.Rational(repr(domain[0])), sp.Rational(repr(domain[1])))
    replacements = {}
    for atom in expr.atoms(sp.Abs, sp.sign):
        u = atom.args[0]
        if len(u.free_symbols) != 1 or not u.free_symbols <= {T, S}:
            continue  # only functions of the time t or s, which range over the domain
        (v,) = u.free_symbols
        try:
            if sp.calculus.util.continuous_domain(u, v, interval) != interval:
                continue
            if sp.solveset(u, v, interval) != sp.S.EmptySet:
                continue
        except (NotImplementedError, ValueError, TypeError):
            continue
        middle = u.subs(v, (interval.start + interval.end) / 2)
        positive = middle.is_positive
        if positive is None:
            value = sp.N(middle, 30)
            if not value.is_real or abs(value) < sp.Float("1e-20"):
                continue
            positive = bool(value > 0)
        if isinstance(atom, sp.sign):
            replacements[atom] = sp.Integer(1 if positive else -1)
        else:
            replacements[atom] = u if positive else -u
    return expr.xreplace(replacements)


def _numerator(expr: sp.Expr, domain: tuple[float, float] | None) -> tuple[sp.Expr, dict[sp.Symbol, sp.Expr]]:
    """Steps 1 (from the absolute values on) to 3; also the way back from the generators."""
    e = _split_exponentials(_resolve_abs(expr, domain))
    replacements, inverse = _generators(e)
    numerator, _ = sp.together(e.xreplace(replacements)).as_numer_denom()
    return sp.expand(numerator), inverse


def rational_normal_form(expr: sp.Expr, domain: tuple[float, float] | None = None) -> sp.Expr:
    """The numerator of the residual after the exact rewrites above, expanded (0 proves the identity);
    ``domain`` = (t_min, t_max) lets absolute values (and signs) of one-time functions without zeros
    on it be resolved."""
    e = sp.sympify(expr).doit()
    e = sp.expand_log(e, force=True)
    e = sp.expand_power_base(e, force=True)
    # Absolute values are resolved while they are still functions of t (or s), before the generators.
    result, inverse = _numerator(e, domain)
    if result != 0 and result.has(sp.Abs, sp.sign):  # square roots of squares can surface in the numerator
        result, _ = _numerator(result.xreplace(inverse), domain)
    return result


def is_zero(expr: sp.Expr, seconds: float | None = None, domain: tuple[float, float] | None = None) -> bool:
    """True if the rational normal form of ``expr`` is 0 within ``seconds``.

    The limit is kept in this process (:func:`~s2n_theory.time_limit.call_within`): a forked child
    per identity cost more than most normal forms (copying a large heap page by page) and threw
    away what SymPy had cached while computing it. A rewrite SymPy cannot carry out concludes nothing.
    """
    if sp.sympify(expr) == 0:
        return True
    try:
        return bool(call_within(_is_zero_now, (expr, domain), NORMAL_FORM_SECONDS if seconds is None else seconds))
    except (TimeLimitExceeded, Exception):  # noqa: BLE001 - no conclusion: the caller tries its other rewrites
        return False


def _is_zero_now(expr: sp.Expr, domain: tuple[float, float] | None) -> bool:
    return rational_normal_form(expr, domain) == 0
