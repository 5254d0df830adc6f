"""The ``tf`` namespace of TF1 programs: ``import graphflow.compat.v1 as tf``. Re-exports only."""
from graphflow import __version__ as _graphflow_version
from graphflow.framework import errors
from graphflow.framework.dtypes import (DType, as_dtype, bool_ as bool, double, float16,
                                        float32, float64, half, int8, int16, int32, int64,
                                        uint8, uint16)
from graphflow.framework.graph_io import import_graph_def
from graphflow.framework.ops import (Graph, GraphKeys, Operation, Tensor, convert_to_tensor,
                                     get_default_graph, get_default_session,
                                     reset_default_graph)
from graphflow.framework.registry import NotDifferentiable, RegisterGradient
from graphflow.framework.tensor_shape import Dimension, TensorShape
from graphflow.framework.random_seed import *  # noqa: F401,F403  (each module's __all__)
from graphflow.gradients import UnconnectedGradients, gradients
from graphflow.ops.array_ops import *  # noqa: F401,F403
from graphflow.ops.constant_op import *  # noqa: F401,F403
from graphflow.ops.control_flow_ops import *  # noqa: F401,F403
from graphflow.ops.init_ops import *  # noqa: F401,F403
from graphflow.ops.math_ops import *  # noqa: F401,F403
from graphflow.ops.numerics_ops import *  # noqa: F401,F403
from graphflow.ops.random_ops import *  # noqa: F401,F403
from graphflow.ops.variable_scope import *  # noqa: F401,F403
from graphflow.ops.variables import *  # noqa: F401,F403
from graphflow.session.config import (ConfigProto, GPUOptions, GraphOptions, OptimizerOptions,
                                      RewriterConfig, RunMetadata, RunOptions)
from graphflow.session.session import InteractiveSession, Session
from graphflow.compat.v1 import (config, debugging, initializers, layers,  # noqa: E402
                                losses, nn, random, test, train)
from graphflow.train.moving_averages import moving_average_variables  # noqa: E402

# The TF1 release whose semantics graphflow follows; graphflow's own is graphflow.__version__.
__version__ = "1.15.5"
VERSION = __version__
GRAPHFLOW_VERSION = _graphflow_version


def name_scope(name, default_name=None, values=None):
    """tf.name_scope(name, default_name=None, values=None), as in TF1."""
    graph = get_default_graph() if not values else _graph_of(values)
    if name is None and default_name is not None:
        name = default_name
    return _EnteringScope(graph, name)


def control_dependencies(control_inputs):
    return get_default_graph().control_dependencies(control_inputs)


def device(device_name_or_function):
    return get_default_graph().device(device_name_or_function)


def add_to_collection(name, value):
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names, value):
    get_default_graph().add_to_collections(names, value)


def get_collection(key, scope=None):
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key):
    return get_default_graph().get_collection_ref(key)


from graphflow.compat.v1._scopes import EnteringScope as _EnteringScope, graph_of as _graph_of  # noqa: E402,E501
