"""Load other projects' samplers for side-by-side tests and benchmarks (never used by the engine).

k-diffusion's ``sampling.py`` is a self-contained torch file, but importing the package
pulls in heavy training dependencies. :func:`kdiffusion_sampling` therefore loads that one
file as a module, from (in this order) the path or wheel in ``$S2N_KDIFFUSION``, an
installed ``k_diffusion``, or a wheel in ``~/.cache/s2n-theory/`` (made by
``pip download --no-deps k-diffusion -d ~/.cache/s2n-theory``). Its optional imports
(torchdiffeq, torchsde, the package's ``utils``) are replaced by small stand-ins when
missing; the samplers compared here do not use them. Raises ImportError when no copy exists.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
import zipfile
from pathlib import Path

CACHE = Path.home() / ".cache" / "s2n-theory"
_MODULE = "s2n_peer_kdiffusion_sampling"


def _source() -> tuple[str, str]:
    """(source text, origin) of k-diffusion's sampling.py."""
    candidates: list[Path] = []
    if os.environ.get("S2N_KDIFFUSION"):
        candidates.append(Path(os.environ["S2N_KDIFFUSION"]))
    spec = importlib.util.find_spec("k_diffusion")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / "sampling.py")
    candidates.extend(sorted(CACHE.glob("k_diffusion-*.whl"), reverse=True))
    for path in candidates:
        if path.suffix == ".whl" and path.is_file():
            with zipfile.ZipFile(path) as wheel:
                return wheel.read("k_diffusion/sampling.py").decode(), str(path)
        if path.is_file():
            return path.read_text(), str(path)
    raise ImportError("k-diffusion's sampling.py not found: pip download --no-deps k-diffusion -d ~/.cache/s2n-theory")


def _append_dims(x, target_dims):
    return x[(...,) + (None,) * (target_dims - x.ndim)]


def kdiffusion_sampling() -> types.ModuleType:
    """k-diffusion's ``sampling`` module, loaded from one file (see the module docstring)."""
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    source, origin = _source()
    package = types.ModuleType(_MODULE + "_pkg")
    package.__path__ = []
    utils = types.ModuleType(_MODULE + "_pkg.utils")
    utils.append_dims = _append_dims
    package.utils = utils
    stubs = {}
    for name in ("torchdiffeq", "torchsde"):
        if importlib.util.find_spec(name) is None:
            stub = types.ModuleType(name)
            stub.odeint = None
            stub.BrownianTree = None
            stubs[name] = stub
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    sys.modules[package.__name__], sys.modules[utils.__name__] = package, utils
    try:
        module = types.ModuleType(_MODULE)
        module.__file__ = origin
        module.__package__ = package.__name__
        exec(compile(source, origin, "exec"), module.__dict__)  # noqa: S102 - a pinned upstream file
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    sys.modules[_MODULE] = module
    return module
