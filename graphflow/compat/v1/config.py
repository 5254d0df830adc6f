"""tf.config: the device query TF1 code uses (``tf.config.list_physical_devices('GPU')``)."""
import types

from graphflow.session import devices as _devices


class PhysicalDevice:
    """A device this process can run ops on: ``name`` '/physical_device:GPU:0', ``device_type``."""

    __slots__ = ("name", "device_type")

    def __init__(self, name, device_type):
        self.name, self.device_type = name, device_type

    def __repr__(self):
        return f"PhysicalDevice(name={self.name!r}, device_type={self.device_type!r})"

    def __eq__(self, other):
        return isinstance(other, PhysicalDevice) and \
            (self.name, self.device_type) == (other.name, other.device_type)

    def __hash__(self):
        return hash((self.name, self.device_type))


def list_physical_devices(device_type=None):
    """The CPU and each GPU numba.cuda finds, or only those of ``device_type``."""
    found, counts = [], {}
    for _, kind in _devices.all_devices():
        index = counts[kind] = counts.get(kind, -1) + 1
        if device_type is None or kind == device_type.upper():
            found.append(PhysicalDevice(f"/physical_device:{kind}:{index}", kind))
    return found


# tf.config.experimental.list_physical_devices, the spelling of TF 1.14-1.15 code
experimental = types.SimpleNamespace(list_physical_devices=list_physical_devices)
