"""ConfigProto, RunOptions and RunMetadata in TF1's shape (plain Python records).

Pass switches follow TF1: ``OptimizerOptions(opt_level=L0)`` or
``RewriterConfig(constant_folding=RewriterConfig.OFF)`` turns a pass off; every graphflow pass
has a RewriterConfig field of its own name (see graphflow.session.passes.NAMES); memory
planning is ``memory_optimization``, off with ``RewriterConfig.NO_MEM_OPT``.
"""


class _Record:
    _fields = {}

    def __init__(self, **kwargs):
        for name, default in self._fields.items():
            value = kwargs.pop(name, None)
            setattr(self, name, default() if value is None and callable(default) else
                    (default if value is None else value))
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected fields: {sorted(kwargs)}")

    def __repr__(self):
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields)
        return f"{type(self).__name__}({inner})"


class OptimizerOptions(_Record):
    L1, L0 = 0, -1
    DEFAULT, OFF, ON_1, ON_2 = 0, -1, 1, 2
    _fields = {"do_common_subexpression_elimination": True, "do_constant_folding": True,
               "opt_level": 0, "global_jit_level": 0}


class RewriterConfig(_Record):
    DEFAULT, ON, OFF, AGGRESSIVE = 0, 1, 2, 3
    # MemOptType, the values of memory_optimization
    DEFAULT_MEM_OPT, NO_MEM_OPT, MANUAL, HEURISTICS = 0, 1, 2, 3
    _fields = {"constant_folding": 0, "common_subgraph_elimination": 0,
               "arithmetic_optimization": 0, "dependency_optimization": 0, "remapping": 0,
               "elementwise_fusion": 0, "memory_optimization": 0,
               "disable_meta_optimizer": False}


class GraphOptions(_Record):
    _fields = {"optimizer_options": OptimizerOptions, "rewrite_options": RewriterConfig,
               "infer_shapes": False, "place_pruned_graph": False}


class GPUOptions(_Record):
    _fields = {"allow_growth": False, "per_process_gpu_memory_fraction": 0.0,
               "visible_device_list": ""}


class ConfigProto(_Record):
    _fields = {"log_device_placement": False, "allow_soft_placement": False,
               "inter_op_parallelism_threads": 0, "intra_op_parallelism_threads": 0,
               "device_count": dict, "gpu_options": GPUOptions, "graph_options": GraphOptions,
               "operation_timeout_in_ms": 0}


class RunOptions(_Record):
    NO_TRACE, SOFTWARE_TRACE, HARDWARE_TRACE, FULL_TRACE = 0, 1, 2, 3
    _fields = {"trace_level": 0, "timeout_in_ms": 0, "output_partition_graphs": False}


class NodeExecStats(_Record):
    _fields = {"node_name": "", "timeline_label": "", "all_start_micros": 0,
               "op_start_rel_micros": 0, "op_end_rel_micros": 0, "all_end_rel_micros": 0}


class DeviceStepStats(_Record):
    _fields = {"device": "", "node_stats": list}


class StepStats(_Record):
    _fields = {"dev_stats": list}


class RunMetadata(_Record):
    """Filled by Session.run: step_stats (with RunOptions FULL_TRACE) lists every executed
    op with its timing; ``plan_report`` says what each optimization pass changed."""

    _fields = {"step_stats": StepStats, "partition_graphs": list, "plan_report": None}
