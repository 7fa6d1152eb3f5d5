import warnings
from pathlib import Path

import pytest
import torch

from corridorkey_export.model import seeded_model
from corridorkey_export.pipeline import export_folder

warnings.filterwarnings("ignore", category=FutureWarning)
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def real_exports(tmp_path_factory):
    """Seeded real-architecture models and their exported folders, built once per size on demand."""
    cache: dict[int, tuple] = {}

    def get(size: int):
        if size not in cache:
            model = seeded_model("hiera_base_plus", size, seed=0)
            folder = tmp_path_factory.mktemp(f"real_s{size}")
            # The fused-GroupNorm GPU refiner has no CPU kernel to test here (small_export checks its form).
            export_folder(model, folder, ["fp32", "fp16"], seed=0, gpu_refiner=False)
            cache[size] = (model, Path(folder))
        return cache[size]

    return get


@pytest.fixture(scope="session")
def small_export(tmp_path_factory):
    model = seeded_model("small", 128, seed=3)
    folder = Path(tmp_path_factory.mktemp("small_s128"))
    export_folder(model, folder, ["fp32", "fp16"], seed=3)
    return model, folder
