"""Pattern fusion (Grappler's remapper): Conv2D or MatMul, then a bias add, then optionally
Relu, become one ``_FusedConv2D`` / ``_FusedMatMul`` node (TF's op names, with TF's
``fused_ops`` attr: ["BiasAdd"] or ["BiasAdd", "Relu"]).

The product's kernel runs as before and the bias and relu are applied in place on its fresh
output (graphflow.kernels.cpu.bias): no intermediate array, no separate broadcast pass. The
softmax + cross-entropy pattern needs no pass: tf.nn.softmax_cross_entropy_with_logits is
already one op whose kernel returns the loss and its gradient together.

A chain fuses when its bias is a vector over the product's last axis (BiasAdd in NHWC, or
Add/AddV2 of a [C] tensor, the seed's ``tf.nn.conv2d(...) + B``), its intermediate values
are neither fetched nor read elsewhere (a Shape/Size/Rank of them reads the fused output
instead: the shapes are equal), and all members share a device hint and tf.cond branch.
"""
import numpy as np

from graphflow.framework.registry import Lowering, get, register_op
from graphflow.session.ir import Node

FUSED = {"Conv2D": "_FusedConv2D", "MatMul": "_FusedMatMul"}
_BIAS_ADDS = ("BiasAdd", "Add", "AddV2")
_SHAPE_READERS = ("Shape", "Size", "Rank")
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _infer(op):
    """Only the pass makes these ops, with the chain's last output dtype and shape."""
    return [(op.attrs["T"], op.attrs["output_shape"])]


def _cpu(product_type):
    def factory(site, state):
        from graphflow.kernels.cpu.bias import bias_add_inplace  # numba: first plan only
        product = get(product_type).lowering("CPU").factory(site, state)
        if isinstance(product, tuple):
            product = product[0]
        relu = "Relu" in site.attrs["fused_ops"]

        def run(x, w, bias, alloc=None):
            y = product(x, w, alloc=alloc)
            if y.flags.c_contiguous and y.flags.writeable:
                return bias_add_inplace(y, bias, relu)
            y = y + bias
            return np.maximum(y.dtype.type(0), y, out=y) if relu else y  # (y on a tie)
        return run
    return factory


def _gpu(product_type):
    def factory(site, state):
        from graphflow.kernels.cpu.fused import Program, Step
        from graphflow.kernels.cuda.elementwise import FusedKernel  # numba.cuda: GPU only
        product = get(product_type).lowering("GPU").factory(site, state)
        dtype = np.dtype(site.output_dtypes[0].as_numpy_dtype).name
        steps = [Step("({0} + {1})", (0, 1), dtype)]
        if "Relu" in site.attrs["fused_ops"]:
            steps.append(Step("(0 if {0} < 0 else {0})", (2,), dtype))
        epilogue = FusedKernel(Program((dtype, dtype), tuple(steps), (1 + len(steps),)))
        return lambda x, w, bias: epilogue(product(x, w), bias)
    return factory


def _gpu_supported(site):
    return site.attrs.get("data_format", "NHWC") == "NHWC"


for _product, _fused_type in FUSED.items():
    # (the products' CPU kernels allocate their output, which the epilogue updates in place)
    register_op(_fused_type, _infer, cpu=Lowering(_cpu(_product), allocates=True),
                gpu=Lowering(_gpu(_product), supports=_gpu_supported))


def _bias_of(add, product_ref):
    """The bias input of ``add`` if it adds a vector over the product's last axis."""
    if add.type == "BiasAdd":
        if add.attrs.get("data_format", "NHWC") not in ("NHWC", "N...C") or \
                add.inputs[0] != product_ref:
            return None
        bias = add.inputs[1]
    else:
        others = [i for i in add.inputs if i != product_ref]
        if len(others) != 1:
            return None
        bias = others[0]
    channels = product_ref[0].output_shapes[0].as_tuple()
    bias_shape = bias[0].output_shapes[bias[1]].as_tuple()
    if not channels or channels[-1] is None or bias_shape != (channels[-1],):
        return None
    if bias[0].output_dtypes[bias[1]] is not product_ref[0].output_dtypes[0]:
        return None
    return bias


def run(plan, ctx):
    readers = {}
    for node in plan.nodes:
        for ref in node.inputs:
            if ref is not None:
                readers.setdefault(ref, []).append(node)
    fetched = set(plan.fetches)

    def sole_reader(ref, node):
        """The one reader of ``ref`` that is not a shape query, if ``node`` may fuse past it."""
        if ref in fetched or ref[0] in plan.targets:
            return None
        others = [r for r in readers.get(ref, ()) if r.type not in _SHAPE_READERS]
        if len(others) != 1 or others[0].control_inputs:
            return None
        reader = others[0]
        if reader.device != node.device or \
                reader.attrs.get("_cond", ()) != node.attrs.get("_cond", ()):
            return None
        return reader

    rank = {node: k for k, node in enumerate(plan.nodes)}
    replaced, mapping, counts = {}, {}, {"BiasAdd": 0, "BiasAdd+Relu": 0}
    for node in list(plan.nodes):
        if node.type not in FUSED or node in replaced:
            continue
        if np.dtype(node.output_dtypes[0].as_numpy_dtype) not in _FLOATS or \
                node.attrs.get("data_format", "NHWC") != "NHWC" or \
                node.output_shapes[0].ndims is None:
            continue
        product_ref = (node, 0)
        add = sole_reader(product_ref, node)
        if add is None or add.type not in _BIAS_ADDS:
            continue
        bias = _bias_of(add, product_ref)
        if bias is None:
            continue
        members, last = [node, add], add
        relu = sole_reader((add, 0), node)
        if relu is not None and relu.type == "Relu":
            members.append(relu)
            last = relu
        fused_ops = ["BiasAdd", "Relu"] if last is not add else ["BiasAdd"]
        attrs = dict(node.attrs, fused_ops=fused_ops, T=last.output_dtypes[0],
                     output_shape=last.output_shapes[0])
        if "_cond" in node.attrs:
            attrs["_cond"] = node.attrs["_cond"]
        fused = Node(FUSED[node.type], [node.inputs[0], node.inputs[1], bias], attrs, last.op,
                     last.output_dtypes, last.output_shapes,
                     control_inputs=list(dict.fromkeys(node.control_inputs)),
                     device=node.device, name=last.name)
        fused.members = [op for m in members for op in m.members]
        rank[fused] = rank[last]
        for m in members:
            replaced[m] = fused
            mapping[(m, 0)] = (fused, 0)
        counts["+".join(fused_ops)] += 1
    if not replaced:
        return "0 patterns"
    if not plan.contract(replaced, mapping, rank):
        raise RuntimeError("pattern fusion made the plan cyclic")  # a bug in this pass
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
