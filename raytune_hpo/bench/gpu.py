"""``raytune-hpo bench gpu``: GPU packing. Eight short trials of a small CNN on synthetic
images: their serial compute time in one warm process (the anchor), then the wall time of the
same eight trials through ``hpo.run`` sharing the GPU, with the mean GPU utilisation sampled
from NVML during each phase. On a machine without a GPU it says so and does nothing."""

from __future__ import annotations

import statistics
import threading
import time

import raytune_hpo as hpo

STEPS = 60  # ~0.6-0.8 s of compute per trial on an H100


def cnn_trial(config: dict) -> None:
    import torch
    from torch import nn

    device = "cuda"
    torch.manual_seed(config["seed"])
    model = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    ).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"])
    x = torch.randn(256, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (256,), device=device)
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    hpo.report(loss=float(loss))


class GPUUtilisation:
    """Mean NVML utilisation of GPU 0 while the block runs, sampled every 50 ms."""

    def __enter__(self):
        import pynvml

        pynvml.nvmlInit()
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        self._samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        import pynvml

        while not self._stop.is_set():
            self._samples.append(pynvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
            self._stop.wait(0.05)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return statistics.fmean(self._samples) if self._samples else 0.0


def gpu(trials: int = 8, gpu_per_trial: float = 0.125) -> str:
    import torch

    if not torch.cuda.is_available():
        return "no GPU: torch.cuda.is_available() is False on this machine; run this benchmark on a GPU machine"
    configs = [{"lr": 0.01, "seed": i} for i in range(trials)]
    cnn_trial(configs[0])  # warm up CUDA and the kernels
    with GPUUtilisation() as serial_util:
        start = time.perf_counter()
        for config in configs:
            cnn_trial(config)
        torch.cuda.synchronize()
        serial = time.perf_counter() - start
    import tempfile

    with GPUUtilisation() as packed_util:
        start = time.perf_counter()
        hpo.run(
            cnn_trial,
            {"lr": 0.01, "seed": hpo.grid(list(range(trials)))},
            metric="loss",
            searcher="grid",
            resources={"cpu": 1, "gpu": gpu_per_trial},
            storage=tempfile.mkdtemp(prefix="hpo-bench-gpu-"),
            verbose=0,
        )
        wall = time.perf_counter() - start
    return "\n".join(
        [
            f"{trials} CNN trials, {torch.cuda.get_device_name(0)}",
            f"{'setting':<36} {'wall s':>8} {'vs serial':>10} {'mean GPU util %':>16}",
            f"{'serial, one warm process (anchor)':<36} {serial:>8.2f} {1.0:>9.2f}x {serial_util.mean:>16.1f}",
            f"{f'raytune-hpo, gpu={gpu_per_trial}/trial':<36} {wall:>8.2f} {wall / serial:>9.2f}x "
            f"{packed_util.mean:>16.1f}",
        ]
    )
