"""Placement: every plan node gets a concrete device, as TF1's placer chooses it.

- No hint: a GPU when one exists and the op has a GPU kernel there, else the CPU.
- A GPU hint: that GPU. Without it (no GPU, index too high, no GPU kernel for the op) the op
  runs on the CPU under allow_soft_placement (one warning per Session when the GPU itself is
  missing) and is an error naming the op otherwise (TF1's default).
- Ops that name a variable by reference (Assign, ApplyAdam, ...) run where the variable
  lives; a variable lives where its VariableV2 op's hint puts it, the same in every plan.
- An op placed on a GPU whose inputs and outputs are all int32 runs its CPU kernel in host
  memory: TF1 keeps int32 tensors (shape arithmetic) on the host for the same reason.
After placement, graphflow.session.transfers inserts the host<->device copies.
"""
import sys
import warnings

from graphflow.framework import dtypes, errors
from graphflow.framework.device import DeviceSpec
from graphflow.session import devices, transfers

CPU = devices.CPU


def place(plan, config, session_flags):
    soft = bool(config and config.allow_soft_placement)
    gpus = devices.gpu_count()
    if config is not None and "GPU" in config.device_count:  # TF1's way to hide GPUs
        gpus = min(gpus, int(config.device_count["GPU"]))
    variable_devices = {}
    for node in plan.nodes:
        if node.type == "_Feed":
            node.device = CPU
        elif node.type == "Const":  # the hint is checked; GPU readers get a device copy
            _choose(node, node.op.device, node.device, gpus, soft, session_flags)
            node.device = CPU
        elif node.refs:
            continue
        else:
            node.device = _choose(node, node.op.device, node.device, gpus, soft, session_flags)
    for node in plan.nodes:
        if node.refs:
            var_op = next(iter(node.refs.values()))
            device = variable_devices.get(var_op)
            if device is None:
                device = variable_devices[var_op] = _choose(
                    None, var_op.device, var_op.device, gpus, soft, session_flags)
            node.device = device
            if device != CPU and not _runs_on_gpu(node):
                raise errors.InvalidArgumentError(
                    None, node.op, f"Cannot colocate '{node.op.name}' ({node.type}) with "
                                   f"variable '{var_op.name}' on {device}: {node.type} has no "
                                   "GPU kernel. Place the variable on the CPU.")
    for node in plan.nodes:
        node.host_memory = node.device != CPU and _int32_only(node)
        if node.type not in ("_Feed", "Const") and \
                node.opdef.lowering(node.kernel_device) is None:
            raise errors.NotFoundError(
                None, node.op, f"No OpKernel was registered to support Op '{node.type}' on "
                               f"device {node.kernel_device} (op {node.name!r}).")


def log_placement(plan, copies):
    """TF1's log_device_placement: each op's device, then each copy the placer inserted."""
    for node in plan.nodes:
        if node.type not in ("_Feed",) and node not in copies:
            print(f"{node.name}: ({node.type}): {node.device}", file=sys.stderr)
    for node in copies:
        target = node.device if node.type == "_HostToDevice" else CPU
        print(f"{node.name}: ({node.type}): copies {transfers.value_name(node.inputs[0])} to "
              f"{target}", file=sys.stderr)


def _choose(node, hint, requested, gpus, soft, flags):
    """The device for an op with device hint ``hint`` (``node`` None: a variable)."""
    spec = DeviceSpec.from_string(requested) if requested else DeviceSpec()
    wanted, index = spec.device_type, spec.device_index or 0
    if wanted is None:
        if gpus and (node is None or _runs_on_gpu(node)):
            return devices.gpu_name(0)
        return CPU
    if wanted == "CPU":
        return CPU
    name = node.op.name if node is not None else hint
    if wanted == "GPU" and index < gpus and (node is None or _runs_on_gpu(node)):
        return devices.gpu_name(index)
    if wanted == "GPU" and index < gpus:
        reason = (f"Could not satisfy explicit device specification '{spec.to_string()}' "
                  f"because no supported kernel for GPU devices is available.")
    else:
        available = ", ".join(n for n, _ in devices.all_devices())
        reason = (f"Operation was explicitly assigned to {hint} but available devices are "
                  f"[ {available} ]. Make sure the device specification refers to a valid "
                  "device.")
    if not soft:
        raise errors.InvalidArgumentError(
            None, node.op if node is not None else None,
            f"Cannot assign a device for operation '{name}': {reason} Set "
            "allow_soft_placement=True in tf.ConfigProto to run it on the CPU instead.")
    if index >= gpus and not flags.get("warned_soft_placement"):
        flags["warned_soft_placement"] = True
        warnings.warn(f"No {wanted} device is available; ops placed on {hint!r} (first: "
                      f"{name!r}) run on the CPU (allow_soft_placement).",
                      RuntimeWarning, stacklevel=5)
    return CPU


def _runs_on_gpu(node):
    if node.type == "Const":
        return True
    if _int32_only(node):
        return node.opdef.lowering("CPU") is not None
    kernel = node.opdef.lowering("GPU")
    return kernel is not None and kernel.runs(node)


def _int32_only(node):
    if node.refs or node.type in ("_Feed", "Const"):
        return False
    used = [d for d in node.input_dtypes if d is not None] + list(node.output_dtypes)
    return bool(used) and all(d is dtypes.int32 for d in used)
