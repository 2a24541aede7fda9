import os

import pytest
import torch

# The tensors in these tests are small: torch's thread pool only adds contention on the 2-core CI machine.
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _private_verify_cache(tmp_path_factory):
    # `s2n verify` caches symbolic results on disk: tests (and the CLI subprocesses they start) use a
    # fresh folder of their own, never the developer's cache.
    previous = os.environ.get("S2N_CACHE_DIR")
    os.environ["S2N_CACHE_DIR"] = str(tmp_path_factory.mktemp("s2n-cache"))
    yield
    if previous is None:
        os.environ.pop("S2N_CACHE_DIR", None)
    else:
        os.environ["S2N_CACHE_DIR"] = previous
