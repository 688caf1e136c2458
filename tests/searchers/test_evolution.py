"""The genetic algorithm's operators (selection, crossover, mutation), its population
(ageing, elitism), its options, and its saved state, driven directly without Ray; and one
small experiment whose saved searcher is restored from the experiment's directory."""

from __future__ import annotations

import inspect
import math
from collections import Counter

import numpy as np
import pytest

import raytune_hpo as hpo
from raytune_hpo.searchers._evolution import GeneticAlgorithm
from raytune_hpo.space import Choice, Integer, Space
from tests.helpers import (BOWL_SPACE, EVERY_KIND_SPACE, assert_legal_every_kind, bowl, build_searcher,
                            multi_fidelity_bowl)
from tests.helpers import drive_searcher as drive

SPACE = Space(EVERY_KIND_SPACE)


def ga(seed: int = 0, space: Space = SPACE, **options) -> GeneticAlgorithm:
    return GeneticAlgorithm(space.params, metric="loss", mode="min", seed=seed, **options)


def build(seed: int = 0, space=BOWL_SPACE, mode: str = "min", **options):
    return build_searcher("evolution", space, seed, mode, **options)


def members(scores: list[float]) -> list[dict]:
    return [{"genes": {"x": float(i)}, "score": s, "born": i} for i, s in enumerate(scores)]


def test_suggestions_are_legal_values_of_every_kind():
    searcher = build(space=SPACE.spec, population_size=6)
    configs = drive(searcher, 60, objective=lambda c: c["x"] ** 2 + c["layers"])
    for c in configs:
        assert_legal_every_kind(c)
    assert len({repr(c) for c in configs}) == 60, "a configuration was proposed twice"


def test_tournament_of_the_whole_population_picks_its_best_and_of_one_picks_uniformly():
    algorithm = ga(tournament_size=5)
    algorithm._population = members([3.0, 1.0, 2.0, 5.0, 4.0])
    assert {algorithm.tournament()["score"] for _ in range(50)} == {1.0}
    assert {algorithm.tournament(exclude=algorithm._population[1])["score"] for _ in range(50)} == {2.0}

    algorithm = ga(tournament_size=1)
    algorithm._population = members([3.0, 1.0, 2.0, 5.0, 4.0])
    wins = Counter(algorithm.tournament()["score"] for _ in range(5000))
    assert set(wins) == {1.0, 2.0, 3.0, 4.0, 5.0} and all(800 < n < 1200 for n in wins.values())


def test_tournament_of_two_favours_the_better_by_rank():
    algorithm = ga(tournament_size=2)
    algorithm._population = members([0.0, 1.0, 2.0, 3.0])
    wins = Counter(algorithm.tournament()["score"] for _ in range(6000))
    # Two of four drawn without replacement: the best wins 3/6, then 2/6, 1/6, never the worst.
    assert wins[3.0] == 0
    assert wins[0.0] > wins[1.0] > wins[2.0] > 0
    assert abs(wins[0.0] / 6000 - 0.5) < 0.03


def test_uniform_crossover_takes_each_gene_from_one_parent_half_the_time():
    algorithm = ga()
    a = {name: f"a-{name}" for name in SPACE.params}
    b = {name: f"b-{name}" for name in SPACE.params}
    from_a = Counter()
    for _ in range(2000):
        child = algorithm.crossover(a, b)
        assert set(child) == set(SPACE.params)
        for name, value in child.items():
            assert value in (a[name], b[name])
            from_a[name] += value == a[name]
    assert all(900 < n < 1100 for n in from_a.values()), from_a


@pytest.mark.parametrize("start", ["low", "high", "middle"])
def test_mutation_stays_in_bounds_and_on_grids(start):
    algorithm = ga(mutation_scale=0.5)
    for name, p in SPACE.params.items():
        if isinstance(p, Choice):
            value = {"low": 0, "high": len(p.options) - 1, "middle": 1}[start]
        elif isinstance(p, Integer):
            value = p.coerce({"low": p.low, "high": p.high - 1, "middle": (p.low + p.high) // 2}[start])
        else:
            value = p.coerce({"low": p.low, "high": p.high, "middle": (p.low + p.high) / 2}[start])
        for _ in range(300):
            mutated = algorithm.mutate_gene(p, value)
            if isinstance(p, Choice):
                assert mutated != value and 0 <= mutated < len(p.options)
            else:
                assert p.coerce(mutated) == mutated, (name, mutated)  # in bounds, on its grid


def test_float_mutation_is_gaussian_in_the_unit_scaled_range():
    algorithm = ga(mutation_scale=0.1)
    linear, log = SPACE.params["x"], SPACE.params["lr"]
    steps = np.array([algorithm.mutate_gene(linear, 0.0) for _ in range(4000)]) / 2  # range width 2
    assert abs(steps.mean()) < 0.01 and abs(steps.std() - 0.1) < 0.01
    # log-scaled: the step is Gaussian in log10(lr), whose range is 4 decades wide
    decades = np.log10([algorithm.mutate_gene(log, 1e-3) for _ in range(4000)]) + 3
    assert abs(decades.mean()) < 0.04 and abs(decades.std() - 0.4) < 0.04


def test_integer_mutation_is_a_unit_step_or_a_fresh_draw():
    algorithm = ga()
    layers, batch = SPACE.params["layers"], SPACE.params["batch"]
    moves = Counter(algorithm.mutate_gene(layers, 2) - 2 for _ in range(4000))
    assert set(moves) <= {-1, 0, 1, 2}
    # half the time ±1 (1/4 each), half a uniform draw from 1..4 (1/8 each, 0 included)
    assert abs(moves[1] / 4000 - (0.25 + 0.125)) < 0.03 and abs(moves[2] / 4000 - 0.125) < 0.03
    assert {algorithm.mutate_gene(layers, 1) for _ in range(200)} >= {1, 2} and 0 not in {
        algorithm.mutate_gene(layers, 1) for _ in range(200)
    }
    steps = Counter(algorithm.mutate_gene(batch, 256) for _ in range(400))
    assert steps[240] > 150 and 272 not in steps  # the step is q = 16, and turns back at the bound


def test_mutation_rate_is_per_gene_and_a_child_equal_to_its_parent_is_changed():
    algorithm = ga(mutation_rate=0.25)
    genes = algorithm._random()
    changed = [sum(v != genes[n] for n, v in algorithm.mutate(genes).items()) for _ in range(3000)]
    assert abs(np.mean(changed) - 0.25 * len(genes) * 0.9) < 0.35  # some draws land on the same value
    algorithm = ga(mutation_rate=0.0)
    assert algorithm.mutate(genes) == genes
    assert sum(v != genes[n] for n, v in algorithm.mutate(genes, force=True).items()) == 1


def test_population_ages_out_its_oldest_but_keeps_its_elite():
    algorithm = ga(population_size=4, elitism=1)
    for i, loss in enumerate([0.5, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0]):
        algorithm.suggest(f"t{i}")
        algorithm.on_trial_complete(f"t{i}", {"loss": loss})
        assert len(algorithm._population) == min(i + 1, 4)
    assert sorted(m["score"] for m in algorithm._population) == [0.5, 3.0, 4.0, 5.0]

    algorithm = ga(population_size=4, elitism=4)  # (mu + 1): the best four survive
    for i, loss in enumerate([0.5, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0]):
        algorithm.suggest(f"t{i}")
        algorithm.on_trial_complete(f"t{i}", {"loss": loss})
    assert sorted(m["score"] for m in algorithm._population) == [0.5, 3.0, 4.0, 5.0]

    algorithm = ga(population_size=4, elitism=0)  # pure ageing: the best ages out too
    for i, loss in enumerate([0.5, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0]):
        algorithm.suggest(f"t{i}")
        algorithm.on_trial_complete(f"t{i}", {"loss": loss})
    assert sorted(m["score"] for m in algorithm._population) == [3.0, 4.0, 5.0, 6.0]


def test_failed_trials_and_missing_or_nan_metrics_do_not_enter_the_population():
    algorithm = ga()
    for i in range(5):
        algorithm.suggest(f"t{i}")
    algorithm.on_trial_complete("t0", None, error=True)
    algorithm.on_trial_complete("t1", {"loss": float("nan")})
    algorithm.on_trial_complete("t2", {"accuracy": 1.0})
    algorithm.on_trial_complete("t3", {"loss": 1.0}, error=True)
    algorithm.on_trial_complete("t4", {"loss": 2.0})
    assert [m["score"] for m in algorithm._population] == [2.0] and not algorithm._pending


def test_mode_max_selects_the_largest():
    algorithm = GeneticAlgorithm(SPACE.params, metric="acc", mode="max", tournament_size=3)
    for i, acc in enumerate([0.1, 0.9, 0.5]):
        algorithm.suggest(f"t{i}")
        algorithm.on_trial_complete(f"t{i}", {"acc": acc})
    assert algorithm.tournament()["genes"] == algorithm._population[1]["genes"]


def test_the_search_improves_on_its_random_start():
    configs = drive(build(seed=0), 60)
    assert np.median([bowl(c) for c in configs[-20:]]) < np.median([bowl(c) for c in configs[:10]]) / 2
    assert min(bowl(c) for c in configs) < 0.05


def test_same_seed_same_sequence_and_another_seed_another():
    assert drive(build(seed=3), 30) == drive(build(seed=3), 30)
    assert drive(build(seed=3), 30) != drive(build(seed=4), 30)


def test_saved_state_restored_into_a_fresh_searcher_continues_identically(tmp_path):
    searcher = build(seed=7, population_size=5)
    drive(searcher, 12)
    pending = searcher.suggest("running")  # a trial running when the experiment stopped
    searcher.save_to_dir(str(tmp_path))  # what Ray does after every event; resume restores it

    restored = build(seed=99, population_size=5)  # the seed is in the saved state
    restored.restore_from_dir(str(tmp_path))
    for s in (searcher, restored):
        s.on_trial_complete("running", {"loss": bowl(pending)})
    assert drive(restored, 15, start=12) == drive(searcher, 15, start=12)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("population_size", 1, "searcher_options.population_size: must be an integer >= 2, got 1"),
    ("tournament_size", 0, "searcher_options.tournament_size: must be a positive integer, got 0"),
    ("elitism", 1.5, "searcher_options.elitism: must be a non-negative integer, got 1.5"),
    ("crossover_rate", 2, "searcher_options.crossover_rate: must be a number in [0, 1], got 2"),
    ("mutation_rate", -0.1, "searcher_options.mutation_rate: must be a number in [0, 1], got -0.1"),
    ("mutation_scale", 0, "searcher_options.mutation_scale: must be a positive number, got 0"),
    ("populaton_size", 5, "searcher_options.populaton_size: not an option of searcher 'evolution'; valid: "
     "crossover_rate, elitism, mutation_rate, mutation_scale, population_size, tournament_size"),
])
def test_bad_options_are_refused_in_one_line(option, value, message):
    with pytest.raises(hpo.ConfigError) as e:
        build(**{option: value})
    assert str(e.value) == message


def test_an_experiment_saves_the_population_that_a_resume_restores(ray_cluster, storage):
    res = hpo.run(
        multi_fidelity_bowl, {**BOWL_SPACE, "iterations": 2}, metric="loss", mode="min",
        searcher="evolution", num_samples=6, max_concurrent=1, seed=0, storage=storage, name="ga",
        verbose=0, searcher_options={"population_size": 4, "elitism": 1},
    )
    assert res.num_errors == 0 and len(res.trials) == 6
    restored = build(population_size=4, elitism=1)
    restored.restore_from_dir(res.path)  # as Tuner.restore does on hpo.resume
    population = restored.searcher._population
    losses = sorted(t.history[-1]["loss"] for t in res.trials)
    # the best, kept as elite, and the three most recent of the six
    assert len(population) == 4 and min(m["score"] for m in population) == pytest.approx(losses[0])
    assert restored.searcher._proposed == 6 and not restored.searcher._pending
    assert all(math.isfinite(m["score"]) for m in population)


def test_the_option_table_and_the_algorithm_agree_on_the_defaults():
    from raytune_hpo.searchers._evolution import OPTIONS

    signature = inspect.signature(GeneticAlgorithm.__init__).parameters
    assert OPTIONS.defaults() == {name: signature[name].default for name in OPTIONS.options}
