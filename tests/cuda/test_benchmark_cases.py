"""The GPU benchmark cases' programs run on the GPU path (simulator, tiny sizes) and agree with
their CPU twins: on a machine with a GPU they time what they claim to."""
import numpy as np
import pytest

from benchmarks import registry

CASES = [c for c in registry.all_cases() if c.group == "gpu" and c.name.endswith(".gpu")
         and "train_step" not in c.name]  # (the training step: tests/cuda/test_convnet_step)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gpu_case_matches_its_cpu_twin(case):
    twin = registry.all_cases()[[c.name for c in registry.all_cases()].index(
        case.name[:-len(".gpu")] + ".cpu")]
    assert case.unavailable() == "the CUDA simulator is not a GPU to time"
    gpu = case.setups["graphflow"](case.params("tiny", threads=1))()
    cpu = twin.setups["graphflow"](twin.params("tiny", threads=1))()
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-5)
