"""graphflow: a dataflow-graph engine that runs TensorFlow 1 code.

TF1 code imports ``graphflow.compat.v1 as tf``; this package holds the engine. Importing it
registers every op and compiles nothing: kernels compile on first use.
"""
__version__ = "0.1.0"

import os as _os  # noqa: E402
import warnings as _warnings  # noqa: E402

# OpenBLAS threads spin after each call and then steal the cores from the Numba kernels that
# run next (a conv after a matmul ran 9x slower here). A short timeout stops the spinning;
# it takes effect only if numpy is loaded after this line (import graphflow first).
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
# Likewise Numba's OpenMP workers spin after a parallel kernel and stall the BLAS call that
# follows (seed convnet step: 44-64 ms spinning, 11.5-12.5 ms passive, on a loaded machine).
# Numba is imported lazily, after this line, whatever the user imported first.
_os.environ.setdefault("OMP_WAIT_POLICY", "passive")
# ... but a worker that sleeps at once must be woken for every parallel kernel: 40-70 us
# here (a virtual machine), more than many kernels take. A short spin (~50-100 us, about the
# gap between a step's kernels) keeps it awake through a step: seed convnet step 5.7 -> 3.9
# ms on an idle machine; next to a process that keeps one core busy, 6.5 -> 9.2 ms (TF1:
# 10.3 ms there). numba.set_num_threads(1) suits a machine that is busy anyway.
_os.environ.setdefault("GOMP_SPINCOUNT", "3000")

# Kernels compute IEEE results for x/0, log(0), overflow, as TF does, and TF never warns about
# them. Silencing numpy's RuntimeWarnings for code in graphflow's own modules (kernels and
# generated plans) costs nothing per run, unlike an np.errstate around every call.
_warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"graphflow\.")

from graphflow import ops as _ops  # noqa: F401,E402
from graphflow.ops import (array_ops, constant_op, control_flow_ops, init_ops,  # noqa: F401,E402
                           losses, math_ops, nn_batchnorm_ops, nn_conv_ops, nn_ops,
                           numerics_ops, operators, random_ops, training_ops, variable_scope,
                           variables)
from graphflow.ops import gpu_kernels  # noqa: F401,E402  (after the ops it adds kernels to)
from graphflow.ops import native_kernels  # noqa: F401,E402  (likewise, native forms)

operators.install()
