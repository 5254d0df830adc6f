"""Host<->device copies: inserted where a value crosses between memories, and nowhere else.

Every value lives in host memory (CPU nodes, feeds, constants, the host outputs of a GPU
kernel such as Shape's) or in a GPU's memory. Where a reader wants it in the other memory,
one copy node is inserted right after the producer and shared by every reader on that side:
``_HostToDevice`` (runs on the GPU, reads host memory) or ``_DeviceToHost``. Fetches are
wanted on the host, so each fetched device value is copied out once per run; each fed value
read on a GPU is copied in once per run. A constant read on a GPU becomes a device constant,
uploaded once when the plan is built.
"""
from graphflow.framework.registry import Lowering, register_op
from graphflow.session import devices
from graphflow.session.ir import Node

HOST_TO_DEVICE, DEVICE_TO_HOST = "_HostToDevice", "_DeviceToHost"


def _same(op):
    return [(op.attrs["dtype"], op.attrs["shape"])]


def _to_device(site, state):
    from numba import cuda
    return cuda.to_device


def _to_host(site, state):
    return lambda array: array.copy_to_host()


register_op(HOST_TO_DEVICE, _same, gpu=Lowering(_to_device, host_inputs=(0,)))
register_op(DEVICE_TO_HOST, _same, gpu=Lowering(_to_host, host_outputs=(0,)))


def on_host(ref):
    """Whether the value ``ref`` = (node, output index) is in host memory."""
    node, index = ref
    if node.kernel_device == "CPU":
        return True
    if node.type == "Const":
        return False
    return index in node.opdef.lowering("GPU").host_outputs


def wants_host(node, index):
    """Whether ``node`` reads its input ``index`` from host memory."""
    if node.kernel_device == "CPU":
        return True
    return index in node.opdef.lowering("GPU").host_inputs


def insert_copies(plan):
    """Rewrites ``plan`` so that every read finds its value in the memory it wants; returns
    the copy nodes inserted (device constants are not copies: they upload once)."""
    copies, device_consts = {}, {}
    after = {}  # producer -> the copy nodes to schedule right after it

    def copy_of(ref, device, kind):
        key = (ref, device, kind)
        node = copies.get(key)
        if node is None:
            producer, index = ref
            attrs = {"dtype": producer.output_dtypes[index],
                     "shape": producer.output_shapes[index]}
            if "_cond" in producer.attrs and producer.type != "_Feed":
                attrs["_cond"] = producer.attrs["_cond"]
            node = Node(kind, [ref], attrs, producer.op, [attrs["dtype"]], [attrs["shape"]],
                        device=device, name=f"{value_name(ref)}/{kind}")
            copies[key] = node
            after.setdefault(producer, []).append(node)
        return (node, 0)

    def device_const(ref, device):
        node = device_consts.get((ref[0], device))
        if node is None:
            const = ref[0]
            # (a constant built under tf.control_dependencies carries that ordering on)
            node = Node("Const", [], const.attrs, const.op, const.output_dtypes,
                        const.output_shapes, control_inputs=const.control_inputs,
                        device=device, name=const.name)
            device_consts[(const, device)] = node
            after.setdefault(const, []).append(node)
        return (node, 0)

    for node in plan.nodes:
        for i, ref in enumerate(node.inputs):
            if ref is None:
                continue
            host, want_host = on_host(ref), wants_host(node, i)
            if host and not want_host:
                device = node.device
                node.inputs[i] = device_const(ref, device) if ref[0].type == "Const" and \
                    ref[0].kernel_device == "CPU" else copy_of(ref, device, HOST_TO_DEVICE)
            elif want_host and not host:
                node.inputs[i] = copy_of(ref, ref[0].device, DEVICE_TO_HOST)
    plan.fetches = [ref if on_host(ref) else copy_of(ref, ref[0].device, DEVICE_TO_HOST)
                    for ref in plan.fetches]
    if after:
        nodes = []
        for node in plan.nodes:
            nodes.append(node)
            nodes.extend(after.get(node, ()))
        plan.nodes = nodes
        plan.prune_unreachable()  # host constants now read only through device copies
    return list(copies.values())


def value_name(ref):
    """The tensor name of a plan value: 'x:0' (a feed node is named after its tensor)."""
    node, index = ref
    return node.name if node.type == "_Feed" else f"{node.name}:{index}"


def device_value(value, device):
    """A constant's value in the memory of ``device`` (uploaded once, at plan build)."""
    if device == devices.CPU:
        return value
    from numba import cuda
    return cuda.to_device(value)
