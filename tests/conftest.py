import os

import numpy as np
import pytest
import torch

# Two cores: keep each test process single-threaded so parallel work stays predictable.
torch.set_num_threads(int(os.environ.get("BODYNET_TEST_THREADS", "1")))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
