"""Our fold dynamics against SCALE-Sim v3's own compute model, on shapes it was not tuned on."""
import random

import pytest

from predictors.accelerator import scalesim_backend
from predictors.accelerator.systolic import SystolicSimulator

from test_systolic import unlimited

pytestmark = pytest.mark.skipif(not scalesim_backend.available(), reason="scalesim not installed")


def random_cases(n=24, seed=7):
    rng = random.Random(seed)
    for _ in range(n):
        yield (rng.randint(1, 300), rng.randint(1, 300), rng.randint(1, 300), rng.choice([4, 8, 16, 32]),
               rng.choice([4, 8, 16, 32]), rng.choice(["ws", "os"]))


@pytest.mark.parametrize("m,n,k,rows,cols,dataflow", list(random_cases()))
def test_compute_cycles_equal_scalesim(m, n, k, rows, cols, dataflow):
    hw = unlimited(rows=rows, cols=cols, dataflow=dataflow)
    theirs = scalesim_backend.compute_cycles(hw, m, n, k)
    ours = SystolicSimulator(hw).gemm(m, n, k).compute_cycles
    assert ours == pytest.approx(theirs, rel=0.01)
    assert ours == theirs
