"""``random`` and ``grid``: Ray's own variant generator, seeded."""

from __future__ import annotations

from raytune_hpo.errors import ConfigError
from raytune_hpo.searchers._common import SearcherRequest
from raytune_hpo.space import Choice, Float, Grid, Integer, RayDomain, Space


def build_random(request: SearcherRequest, grid: bool = False):
    """Ray samples the space itself: it is handed over as Ray domains."""
    from ray.tune.search import BasicVariantGenerator

    kwargs = request.library_options(
        BasicVariantGenerator, reserved=("random_state", "max_concurrent", "points_to_evaluate")
    )
    generator = BasicVariantGenerator(random_state=request.seed, max_concurrent=request.max_concurrent or 0, **kwargs)
    return generator, request.space.to_ray(choices_as_grid=grid)


def build_grid(request: SearcherRequest):
    """Every combination of the grid and choice parameters; ``num_samples`` repeats the grid."""
    sampled = [n for kind in (Float, Integer, RayDomain) for n in request.space.names_of(kind)]
    if sampled:
        raise ConfigError(
            f"space.{sampled[0]}: searcher 'grid' searches only hpo.grid and hpo.choice "
            "parameters; make it one, or use searcher 'random'"
        )
    return build_random(request, grid=True)


def planned_trials(searcher: str, space: Space, num_samples: int) -> int:
    """The trials an experiment runs when it completes: ``num_samples`` times the size of the
    grid that ``random`` expands (its ``hpo.grid`` parameters) or ``grid`` (its choices too,
    each branch counting its options' combinations).

    >>> from raytune_hpo import space as s
    >>> planned_trials("grid", Space({"a": s.grid([1, 2]), "b": s.choice("xyz")}), 2)
    12
    """
    kinds: tuple[type, ...] = {"random": (Grid,), "grid": (Grid, Choice)}.get(searcher, ())
    return num_samples * space.size(kinds)
