import importlib.util

import pytest

from nas.parallel import SerialExecutor, executor
from predictors.learned.dataset import build_dataset
from predictors.accelerator.hardware import AcceleratorConfig
from predictors.accelerator.workload import Workload
from supernet.space import nas_case_study_space

SPACE = nas_case_study_space()
HW = AcceleratorConfig.preset("gemmini-default")
WORK = Workload(phase="decode", seq_len=256)


def dataset_with(tmp_path, kind, workers):
    with executor(kind, workers) as pool:
        frame = build_dataset(SPACE, HW, WORK, 30, tmp_path / f"{kind}.parquet", seed=5, map_fn=pool.map,
                              chunk_size=7)
    return frame.sort_values("key").reset_index(drop=True)


def test_one_process_worker_means_serial():
    with executor("process", 1) as pool:
        assert isinstance(pool, SerialExecutor)


def test_process_pool_gives_the_serial_rows(tmp_path):
    serial = dataset_with(tmp_path, "serial", None)
    pooled = dataset_with(tmp_path, "process", 2)
    assert serial.equals(pooled)


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed (pip install 'hwnas[ray]')")
def test_ray_gives_the_serial_rows(tmp_path, ray_local):
    serial = dataset_with(tmp_path, "serial", None)
    on_ray = dataset_with(tmp_path, "ray", 2)
    assert serial.equals(on_ray)
