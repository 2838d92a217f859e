"""The accelerator cost model, after Timeloop's split: what the accelerator is (`hardware`), what it must compute
(`workload`), what a mapping is (`mapping`), what a given mapping costs (`cost.cost_mapping`), the engines that
choose one (`mapper`), where vector ops run (`vector_placement`, `fusion`), a whole model summed
(`systolic.SystolicSimulator`), its area and power (`area`), and the space a DSE searches (`hardware_space`).
Nothing here imports `predictors.learned`."""
