"""Cross-checks against SCALE-Sim v3 (`pip install hwnas[scalesim]`), the cycle-level systolic simulator.

SCALE-Sim builds, for every fold, the cycle-by-cycle demand matrices of the array's operand ports; their length
is its compute time. We drive that compute model directly on a GEMM (its "gemm" topology: ifmap = M x K,
filter = K x N, ofmap = M x N) and return the number of cycles. SCALE-Sim's own report prints one less (the
index of the last cycle, counted from 0). Its memory model is not driven here: its stall cycles come from
forward-only FIFO buffers that re-read operands from DRAM many times over (docs/sources.md section 4), which is
not worth matching, and it steps in Python once per simulated cycle.
"""
from __future__ import annotations

import numpy as np

from predictors.accelerator.hardware import AcceleratorConfig


def available() -> bool:
    try:
        import scalesim  # noqa: F401
    except ImportError:
        return False
    return True


def compute_cycles(hw: AcceleratorConfig, m: int, n: int, k: int) -> int:
    """SCALE-Sim's compute cycles for (m x k) @ (k x n) on `hw`'s array and dataflow (folds back to back)."""
    try:
        from scalesim.compute.systolic_compute_os import systolic_compute_os
        from scalesim.compute.systolic_compute_ws import systolic_compute_ws
        from scalesim.scale_config import scale_config
    except ImportError as exc:
        raise RuntimeError("SCALE-Sim is not installed: pip install 'hwnas[scalesim]'") from exc
    config = scale_config()
    config.array_rows, config.array_cols = hw.rows, hw.cols
    config.valid_conf_flag = True  # set by its file reader, which we bypass
    # Distinct addresses per operand, as SCALE-Sim's operand_matrix lays them out (offsets 0, 1e7, 2e7).
    ifmap = np.arange(m * k, dtype=np.int64).reshape(m, k)
    filt = np.arange(k * n, dtype=np.int64).reshape(k, n) + 10_000_000
    ofmap = np.arange(m * n, dtype=np.int64).reshape(m, n) + 20_000_000
    if hw.dataflow == "ws":
        model = systolic_compute_ws()
        model.set_params(config_obj=config, ifmap_op_mat=ifmap, filter_op_mat=filt, ofmap_op_mat=ofmap,
                         ifmap_op_mat_original=ifmap, sparsity_filter_array=np.ones((k, n)))
    else:
        model = systolic_compute_os()
        model.set_params(config_obj=config, ifmap_op_mat=ifmap, filter_op_mat=filt, ofmap_op_mat=ofmap)
    model.create_demand_matrices()
    return int(model.ofmap_demand_matrix.shape[0])
