"""The accelerator cost model: what the accelerator is (`hardware`), what it must compute (`workload`), how one
computation is laid onto it and what that costs (`systolic`), its area and power (`area`), and the space a DSE
searches (`hardware_space`). Nothing here imports `predictors.learned`."""
