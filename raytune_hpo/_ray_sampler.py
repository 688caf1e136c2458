"""A Ray Tune sampler whose draws pass through our parameter's ``coerce``: Ray's own
quantization leaves float noise (0.30000000000000004) and rounds integers past an exclusive
upper bound; with this, what Ray samples is what the other searchers suggest."""

from __future__ import annotations

from typing import Any

from ray.tune.search import sample


class CoercingSampler(sample.Sampler):
    def __init__(self, sampler: sample.Sampler, param: Any):
        self.sampler = sampler
        self.param = param

    def get_sampler(self) -> sample.Sampler:
        return self.sampler

    def sample(self, domain, config=None, size: int = 1, random_state=None):
        values = self.sampler.sample(domain, config, size, random_state=random_state)
        if isinstance(values, list):
            return [self.param.coerce(v) for v in values]
        return self.param.coerce(values)
