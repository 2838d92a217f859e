"""Multi-objective evolutionary search with DEAP's NSGA-II, resumable generation by generation.

Individuals are the integer genomes of a codec (`nas.codec`): a `SearchSpace`, a `HardwareSpace` or their
product, whose candidates are networks, accelerators or (network, accelerator) pairs; the search only needs each
candidate's `key`. Variation: uniform crossover (`tools.cxUniform`) and
per-gene redraws (`tools.mutUniformInt` with each gene's own range). Survival: constraint-domination (Deb) — the
feasible individuals by `tools.selNSGA2`, then the infeasible ones by total violation — so no candidate is ever
rejected and redrawn. Parents: binary tournaments on (violation, Pareto rank, crowding). `tools.ParetoFront`
keeps the feasible non-dominated set; moocore's hypervolume against a reference point tracks progress. The
reference point is fixed once, at the first generation whose population has a finite value for every objective
(generation 0 unless no candidate met the cheap constraints there, so that expensive objectives were never
scored). After every generation the whole state (population, evaluations, RNG) is written as JSON, atomically,
and `run(resume=True)` continues exactly where a killed run stopped. `RandomSearch` has the same interface.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import moocore
import numpy as np
from deap import base, creator, tools

from nas.codec import GenomeCodec, network_side
from nas.objectives import Constraint, Objective
from userfiles import UserInputError, atomic_write_json

STATE_FILE = "search_state.json"
STATE_VERSION = 2
Point = Any  # whatever the codec decodes to: an ArchConfig or a nas.codec.Candidate


@dataclass
class SearchResult:
    front: list[tuple[Point, dict[str, float]]]
    history: list[dict]
    evaluated: dict[str, tuple[Point, dict[str, float]]] = field(repr=False)
    reference_point: list[float] = field(default_factory=list)
    largest: tuple[Point, dict[str, float]] | None = None  # the baseline (largest or fixed network), for comparison


def _fitness_class(weights: tuple[float, ...]):
    """DEAP's creator classes are global; one per weight vector, created once."""
    name = "Fitness_" + "_".join("max" if w > 0 else "min" for w in weights)
    if not hasattr(creator, name):
        creator.create(name, base.Fitness, weights=weights)
        creator.create("Individual_" + name, list, fitness=getattr(creator, name))
    return getattr(creator, "Individual_" + name)


def hypervolume(points_min: np.ndarray, reference: Sequence[float] | None) -> float:
    """Hypervolume of points given in minimisation form (maximised objectives negated), by moocore. Points that
    do not dominate the reference point add nothing; without a reference point (none fixed yet) it is 0."""
    points = np.asarray(points_min, dtype=float)
    if reference is None or len(points) == 0:
        return 0.0
    return float(moocore.hypervolume(points.reshape(len(points), len(reference)), ref=np.asarray(reference, float)))


class EvolutionarySearch:
    """NSGA-II over a genome codec, with objectives injected (any cost model fits)."""

    algorithm = "nsga2"

    def __init__(self, codec: GenomeCodec, objectives: Sequence[Objective], *,
                 constraints: Sequence[Constraint | str] = (), population: int = 40, generations: int = 40,
                 crossover_prob: float = 0.9, mutation_prob: float = 0.2, seed: int = 0,
                 out: str | Path | None = None, on_generation: Callable[[dict], None] | None = None,
                 on_resume: Callable[[int], None] | None = None,
                 infeasibility: Callable[[Sequence[Point]], Sequence[float]] | None = None):
        """Everything after the objectives is keyword-only: six numbers in a row are too easy to swap.
        Constraints are `Constraint`s or their text (`"latency_ms <= 5"`), as in a run config. `infeasibility`
        gives each candidate a violation of its own, beside the constraints' (0 when feasible): a design whose
        memory cannot hold the model, say, whatever the user bounded."""
        if len(objectives) < 2:
            raise ValueError("a multi-objective search needs at least two objectives")
        constraints = [Constraint.parse(c) for c in constraints]
        names = {o.name for o in objectives}
        for c in constraints:
            if c.objective not in names:
                raise ValueError(f"constraint '{c}' is on {c.objective!r}, which is not among the objectives")
        self.codec, self.objectives, self.constraints = codec, list(objectives), constraints
        self.population_size, self.generations = population, generations
        self.crossover_prob, self.mutation_prob, self.seed = crossover_prob, mutation_prob, seed
        self.out = Path(out) if out else None
        self.on_generation = on_generation
        self.on_resume = on_resume  # told the generation a resumed search restarts from
        self.infeasibility = infeasibility
        self.individual = _fitness_class(tuple(o.weight for o in self.objectives))
        self.choices = self.codec.gene_choices()
        self.rng = random.Random(seed)
        self.evaluated: dict[str, tuple[Point, dict[str, float]]] = {}
        self.hall = tools.ParetoFront(similar=lambda a, b: a.key == b.key)
        self.history: list[dict] = []
        self.reference: list[float] | None = None

    # ---- evaluation ---------------------------------------------------------------------------------------
    def evaluate(self, candidates: Sequence[Point]) -> list[dict[str, float]]:
        """Objective values and `violation` per candidate: cheap objectives first, expensive ones only for candidates
        that satisfy every constraint on a cheap objective."""
        new = [a for a in {a.key: a for a in candidates}.values() if a.key not in self.evaluated]
        if new:
            values: dict[str, np.ndarray] = {}
            for obj in (o for o in self.objectives if o.cost == "cheap"):
                values[obj.name] = obj.evaluate(new)
            own = np.asarray(self.infeasibility(new), float) if self.infeasibility else np.zeros(len(new))
            cheap_violation = self._violation(values, len(new), cheap_only=True) + own
            feasible = [a for a, v in zip(new, cheap_violation) if v == 0]
            for obj in (o for o in self.objectives if o.cost == "expensive"):
                scored = dict(zip((a.key for a in feasible), obj.evaluate(feasible))) if feasible else {}
                worst = np.inf if obj.direction == "min" else -np.inf
                values[obj.name] = np.array([scored.get(a.key, worst) for a in new])
            violation = self._violation(values, len(new), cheap_only=False) + own
            for i, candidate in enumerate(new):
                record = {name: float(v[i]) for name, v in values.items()}
                record["violation"] = float(violation[i])
                self.evaluated[candidate.key] = (candidate, record)
            self._update_hall(new)
        return [self.evaluated[a.key][1] for a in candidates]

    def _update_hall(self, candidates: Sequence[Point]) -> None:
        """Add the feasible, fully scored ones among `candidates` to the Pareto hall of fame."""
        members = []
        for candidate in candidates:
            record = self.evaluated[candidate.key][1]
            if record["violation"] == 0 and all(np.isfinite(record[o.name]) for o in self.objectives):
                ind = self.individual(self.codec.encode(candidate))
                ind.fitness.values = tuple(record[o.name] for o in self.objectives)
                ind.key = candidate.key
                members.append(ind)
        self.hall.update(members)

    def _violation(self, values: dict[str, np.ndarray], n: int, cheap_only: bool) -> np.ndarray:
        total = np.zeros(n)
        for c in self.constraints:
            if c.objective in values and (not cheap_only or self._objective(c.objective).cost == "cheap"):
                total += np.array([c.violation(v) for v in values[c.objective]])
        return total

    def _objective(self, name: str) -> Objective:
        return next(o for o in self.objectives if o.name == name)

    def _assign(self, individuals: list) -> None:
        candidates = [self.codec.decode(ind) for ind in individuals]
        for ind, record in zip(individuals, self.evaluate(candidates)):
            ind.fitness.values = tuple(record[o.name] for o in self.objectives)
            ind.violation = record["violation"]

    # ---- variation and selection --------------------------------------------------------------------------
    def _random_individual(self):
        return self.individual(self.rng.randrange(n) for n in self.choices)

    def _vary(self, parents: list) -> list:
        offspring = [self.individual(p) for p in parents]
        for a, b in zip(offspring[::2], offspring[1::2]):
            if self.rng.random() < self.crossover_prob:
                _with_rng(self.rng, tools.cxUniform, a, b, 0.5)
        for ind in offspring:
            _with_rng(self.rng, tools.mutUniformInt, ind, [0] * len(self.choices), [n - 1 for n in self.choices],
                      self.mutation_prob)
        return offspring

    def _survivors(self, candidates: list, k: int) -> list:
        feasible = [ind for ind in candidates if ind.violation == 0]
        infeasible = sorted((ind for ind in candidates if ind.violation > 0), key=lambda ind: ind.violation)
        if len(feasible) >= k:
            return tools.selNSGA2(feasible, k)
        chosen = tools.selNSGA2(feasible, len(feasible)) if feasible else []
        return chosen + infeasible[: k - len(chosen)]

    def _parents(self, population: list) -> list:
        feasible = [ind for ind in population if ind.violation == 0]
        rank = {}
        for r, front in enumerate(tools.sortNondominated(feasible, len(feasible))):
            tools.emo.assignCrowdingDist(front)
            rank.update({id(ind): r for ind in front})

        def key(ind):
            return (ind.violation, rank.get(id(ind), 0), -getattr(ind.fitness, "crowding_dist", 0.0))

        picks = []
        for _ in range(len(population)):
            a, b = self.rng.sample(population, 2)
            picks.append(a if key(a) <= key(b) else b)
        return picks

    # ---- the loop -----------------------------------------------------------------------------------------
    def run(self, resume: bool = False) -> SearchResult:
        """Run to the last generation; with `resume`, continue from the state saved in `out`, if any."""
        population, start = self._restore() if resume else (None, 0)
        if population is not None and self.on_resume:
            self.on_resume(start)
        if population is None:
            population = self._initial_population()
            self._assign(population)
            self._record(0, population, time.perf_counter())
            self._checkpoint(0, population)
        for generation in range(start + 1, self.generations + 1):
            started = time.perf_counter()
            population = self._next_generation(population)
            self._record(generation, population, started)
            self._checkpoint(generation, population)
        return self._result()

    def _next_generation(self, population: list) -> list:
        offspring = self._vary(self._parents(population))
        self._assign(offspring)
        return self._survivors(population + offspring, self.population_size)

    def _initial_population(self) -> list:
        """Distinct genomes (a bounded number of draws; a tiny space may repeat). In a co-search a quarter of
        them hold the largest network of the space and a quarter its smallest, each on a random accelerator (a
        network search has them once each): a supernet knows its quality extremes before any evaluation, and
        without them a joint search spends its budget rediscovering what a sequential one is handed (the
        largest network is where "DSE for the largest network" starts). Random draws fill the rest."""
        side = network_side(self.codec)
        planned: list[list[int]] = []
        if side is not None:
            # as many pairings of an extreme as there are accelerators to pair it with (one, without a hardware
            # side), so that no slot waits for a distinct genome that cannot exist
            copies = min(self.population_size // 4, self.codec.size() // side.size())
            planned = [side.encode(side.largest())] * copies + [side.encode(side.smallest())] * copies
        return self._distinct(planned)

    def _distinct(self, planned: Sequence[list[int]] = ()) -> list:
        """Distinct genomes: first one per `planned` prefix (the rest of its genes random), then random ones;
        each slot gets a bounded number of draws, after which a repeat is accepted rather than waited for."""
        seen, population = set(), []
        for index in range(self.population_size):
            for _ in range(20):
                ind = self._random_individual()
                if index < len(planned):
                    ind[:len(planned[index])] = planned[index]
                key = self.codec.decode(ind).key
                if key not in seen:
                    break
            seen.add(key)
            population.append(ind)
        return population

    def _reference_point(self, population: list) -> list[float] | None:
        """The worst finite value per objective in `population`, plus 10% of the range (of the value itself where
        all values are equal, as when one candidate alone was scored, so later points are not held to beating it
        everywhere); None while some objective has no finite value there (an expensive objective is only scored
        for candidates that meet the cheap constraints), so that a run whose first generations are all
        infeasible still gets a usable point."""
        points = self._min_form([self.evaluated[self.codec.decode(ind).key][1] for ind in population])
        finite = np.where(np.isfinite(points), points, np.nan)
        if np.isnan(finite).all(axis=0).any():
            return None
        worst, best = np.nanmax(finite, axis=0), np.nanmin(finite, axis=0)
        spread = np.where(worst > best, worst - best, np.maximum(np.abs(worst), 1e-12))
        return (worst + 0.1 * spread).tolist()

    def _min_form(self, records: Sequence[dict]) -> np.ndarray:
        return np.array([[o.sign * r[o.name] for o in self.objectives]
                         for r in records], dtype=float).reshape(len(records), len(self.objectives))

    def front(self) -> list[tuple[Point, dict[str, float]]]:
        """Feasible, non-dominated candidates among everything evaluated so far (DEAP's ParetoFront),
        ordered by the first objective."""
        members = [self.evaluated[ind.key] for ind in self.hall]
        return sorted(members, key=lambda m: (*(m[1][o.name] * o.sign for o in self.objectives), m[0].key))

    def _record(self, generation: int, population: list, started: float) -> None:
        if self.reference is None:
            self.reference = self._reference_point(population)
        front = self.front()
        entry = {"generation": generation, "evaluations": len(self.evaluated), "front_size": len(front),
                 "hypervolume": hypervolume(self._min_form([r for _, r in front]), self.reference),
                 "feasible": sum(1 for ind in population if ind.violation == 0),
                 "seconds": time.perf_counter() - started}
        self.history.append(entry)
        if self.on_generation:
            self.on_generation(entry)

    # ---- persistence --------------------------------------------------------------------------------------
    def _state(self, generation: int, population: list) -> dict:
        version, internal, gauss = self.rng.getstate()
        return {"version": STATE_VERSION, "algorithm": self.algorithm, "generation": generation,
                "codec_fingerprint": self.codec.fingerprint(), "objectives": [o.name for o in self.objectives],
                "seed": self.seed, "rng": [version, list(internal), gauss],
                "population": [list(ind) for ind in population], "reference": self.reference,
                "evaluated": {k: {"genes": self.codec.encode(c), "values": r} for k, (c, r) in self.evaluated.items()},
                "history": self.history}

    def _checkpoint(self, generation: int, population: list) -> None:
        if self.out is not None:
            atomic_write_json(self.out / STATE_FILE, _json_safe(self._state(generation, population)))

    def _restore(self) -> tuple[list | None, int]:
        path = self.out / STATE_FILE if self.out else None
        if path is None or not path.is_file():
            return None, 0
        try:
            state = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            state = None
        if not isinstance(state, dict):
            raise UserInputError(f"{path}: corrupt search state; delete it to start the search over")
        if state.get("version") != STATE_VERSION or state.get("algorithm") != self.algorithm \
                or state.get("codec_fingerprint") != self.codec.fingerprint() \
                or state.get("objectives") != [o.name for o in self.objectives] or state.get("seed") != self.seed:
            raise UserInputError(f"{path}: the saved search is for another space, objectives, algorithm or seed")
        try:
            version, internal, gauss = state["rng"]
            self.rng.setstate((version, tuple(internal), gauss))
            self.reference, self.history = state["reference"], list(state["history"])
            for key, item in state["evaluated"].items():
                record = {k: _from_json(v) for k, v in item["values"].items()}
                self.evaluated[key] = (self.codec.decode(item["genes"]), record)
                for obj in self.objectives:
                    obj.cache.setdefault(key, record[obj.name])
            population = [self.individual(genes) for genes in state["population"]]
            for ind in population:
                self.codec.decode(ind)  # a genome this codec cannot read is a damaged file
            generation = int(state["generation"])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UserInputError(f"{path}: corrupt search state; delete it to start the search over") from None
        self._update_hall([candidate for candidate, _ in self.evaluated.values()])
        self._assign(population)
        return population, generation

    def _result(self) -> SearchResult:
        return SearchResult(self.front(), self.history, dict(self.evaluated), list(self.reference or []))


class RandomSearch(EvolutionarySearch):
    """The baseline: the same number of evaluations (population x (generations + 1)), drawn uniformly."""

    algorithm = "random"

    def _initial_population(self) -> list:
        """Uniform, like every later generation: the baseline gets no head start."""
        return self._distinct()

    def _next_generation(self, population: list) -> list:
        fresh = [self._random_individual() for _ in range(self.population_size)]
        self._assign(fresh)
        return fresh


def _with_rng(rng: random.Random, operator, *args):
    """Run a DEAP operator (which draws from the `random` module) on our own generator, so that a search's
    randomness is all in `rng` and can be saved and restored exactly."""
    saved = random.getstate()
    random.setstate(rng.getstate())
    try:
        return operator(*args)
    finally:
        rng.setstate(random.getstate())
        random.setstate(saved)


def _json_safe(value):
    if isinstance(value, float) and not np.isfinite(value):  # exact on resume: JSON has no such numbers
        return "nan" if np.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _from_json(value):
    return float(value) if value in ("inf", "-inf", "nan") else value
