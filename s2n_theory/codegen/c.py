"""The C export of a schedule: a header and a source file (``s2n_real`` is double, or float with
``-DS2N_FLOAT``), each function also as an ``*_array`` loop."""

from __future__ import annotations

import keyword
import re

import sympy as sp

from ..arrays import fold_constants
from ..symbols import LAMBDA, S, T
from .forms import NEWTON_ITERATIONS, ExportForms
from .functions import ONE_ARG, TWO_ARG, CodegenError
from .printer import Printer, safe_comment
from .stable import is_constant


def c_identifier(text: str) -> str:
    """``text`` as a C identifier prefix: lower case, [a-z0-9_], not a keyword, at most 40 characters."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_").lower() or "s2n"
    if ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "s2n_" + ident
    return ident[:40]


_C_HELPERS = """
#include <tgmath.h>

#define S2N_C(x) ((s2n_real)(x))

static inline s2n_real s2n_softplus(s2n_real x) {
    return fmax(x, S2N_C(0.0)) + log1p(exp(-fabs(x)));
}

static inline s2n_real s2n_pow2(s2n_real x) { return x * x; }
static inline s2n_real s2n_pow3(s2n_real x) { return x * x * x; }
"""


def c_source(forms: ExportForms, prefix: str = "s2n", header_name: str | None = None) -> tuple[str, str]:
    """(header, source) of the C export; compile with ``cc -O2 -c`` (add ``-DS2N_FLOAT`` for float)."""
    prefix = c_identifier(prefix)
    guard = f"{prefix.upper()}_SCHEDULE_H"
    header_name = header_name or f"{prefix}.h"
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\.h", header_name):
        raise CodegenError(f"C header name {header_name!r} must be letters, digits, '_', '-', '.' ending in .h "
                           "(it is written into an #include line)")
    proto: list[str] = []
    body: list[str] = []

    def emit(name: str, expr: sp.Expr, params: list[tuple[sp.Symbol, str]], public: bool = True) -> None:
        printer = Printer("c", {sym: cname for sym, cname in params})
        args = ", ".join(f"s2n_real {cname}" for _, cname in params)
        storage = "" if public else "static "
        signature = f"{storage}s2n_real {prefix}_{name}({args})"
        if public:
            proto.append(signature + ";")
        folded = fold_constants(expr)
        lines = [signature + " {"]
        if is_constant(folded):
            lines += [f"    (void){cname};" for _, cname in params]
            lines.append(f"    return {printer(folded)};")
        else:
            reduced, (value,) = sp.cse(folded, symbols=sp.numbered_symbols("x"))
            for sym, sub in reduced:
                printer.names[sym] = str(sym)
                lines.append(f"    const s2n_real {sym} = {printer(sub)};")
            lines.append(f"    return {printer(value)};")
        lines.append("}")
        body.append("\n".join(lines))

    def emit_array(name: str, nargs: int) -> None:
        ins = ", ".join(f"const s2n_real *{a}" for a in ("t", "s")[:nargs]) if name != "t_of_log_snr" \
            else "const s2n_real *lam"
        call = ", ".join(f"{a}[i]" for a in ("t", "s")[:nargs]) if name != "t_of_log_snr" else "lam[i]"
        signature = f"void {prefix}_{name}_array({ins}, s2n_real *out, size_t n)"
        proto.append(signature + ";")
        body.append(f"{signature} {{\n    for (size_t i = 0; i < n; ++i) out[i] = {prefix}_{name}({call});\n}}")

    for name in ONE_ARG:
        emit(name, forms.exprs[name], [(T, "t")])
        emit_array(name, 1)
    for name in TWO_ARG:
        emit(name, forms.exprs[name], [(T, "t"), (S, "s")])
        emit_array(name, 2)
    clamp = (f"    if (lam < S2N_C({forms.log_snr_min!r})) lam = S2N_C({forms.log_snr_min!r});\n"
             f"    if (lam > S2N_C({forms.log_snr_max!r})) lam = S2N_C({forms.log_snr_max!r});\n")
    tclamp = (f"    if (!(t >= S2N_C({forms.t_min!r}))) t = S2N_C({forms.t_min!r});\n"
              f"    if (!(t <= S2N_C({forms.t_max!r}))) t = S2N_C({forms.t_max!r});\n    return t;\n")
    inverse = forms.exprs.get("t_of_log_snr")
    if inverse is not None:
        emit("t_closed", inverse, [(LAMBDA, "lam")], public=False)
        code = (f"s2n_real {prefix}_t_of_log_snr(s2n_real lam) {{\n{clamp}"
                f"    s2n_real t = {prefix}_t_closed(lam);\n{tclamp}}}")
    else:
        code = (
            f"s2n_real {prefix}_t_of_log_snr(s2n_real lam) {{\n{clamp}"
            f"    s2n_real lo = S2N_C({forms.t_min!r}), hi = S2N_C({forms.t_max!r});\n"
            # a target at an end of the range has its root at that end (see the Python module)
            f"    s2n_real t = lam >= S2N_C({forms.log_snr_max!r}) ? lo : lam <= S2N_C({forms.log_snr_min!r}) ? hi"
            f" : S2N_C(0.5) * (lo + hi);\n"
            f"    for (int k = 0; k < {NEWTON_ITERATIONS}; ++k) {{\n"
            f"        const s2n_real value = {prefix}_log_snr(t) - lam;\n"
            f"        if (value > 0) lo = t; else hi = t;\n"
            f"        s2n_real next = t - value / {prefix}_dlog_snr(t);\n"
            f"        if (!(next >= lo && next <= hi)) next = S2N_C(0.5) * (lo + hi);\n"
            f"        const int done = fabs(next - t) <= S2N_C(4.0) * S2N_EPS * fabs(t)\n"
            f"                         || fabs(value) <= S2N_C(4.0) * S2N_EPS * (fabs(lam) + S2N_C(1.0));\n"
            f"        t = next;\n"
            f"        if (done) break;\n    }}\n{tclamp}}}"
        )
    proto.append(f"s2n_real {prefix}_t_of_log_snr(s2n_real lam);")
    body.append(code)
    emit_array("t_of_log_snr", 1)

    header = "\n".join([
        f"/* Noise schedule {safe_comment(forms.name)}, exported by s2n-theory. Generated code. */",
        f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>", "",
        "#ifdef S2N_FLOAT", "typedef float s2n_real;", "#define S2N_EPS 1.1920929e-07f", "#else",
        "typedef double s2n_real;", "#define S2N_EPS 2.220446049250313e-16", "#endif", "",
        f"#define {prefix.upper()}_T_MIN {forms.t_min!r}", f"#define {prefix.upper()}_T_MAX {forms.t_max!r}", "",
        *proto, "", f"#endif /* {guard} */", "",
    ])
    source = "\n".join([
        f"/* Noise schedule {safe_comment(forms.name)}, exported by s2n-theory. Generated code. */",
        *([f"/* Note: {safe_comment(forms.fallback)}. */"] if forms.fallback else []),
        f'#include "{header_name}"', _C_HELPERS, "\n\n".join(body), "",
    ])
    return header, source
