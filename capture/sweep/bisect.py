"""The threshold search: the smallest body size at which the application sees a write error.

Sans-IO: :func:`search` is a generator that *asks* for sizes and is *told*
what the probes found, so the same search runs one probe at a time, two in
parallel, or interleaved with other searches (matrix mode):

    steps = search(lo, hi, fanout=2)
    sizes = next(steps)
    while True:
        try:
            sizes = steps.send({n: run(n) for n in sizes})   # ProbeFacts per size
        except StopIteration as done:
            result = done.value                              # a Threshold
            break

Rules, in order:
1. probe ``lo`` and ``hi``; an error at ``lo`` -> ALWAYS; none at ``hi`` -> NEVER;
2. else keep ``f(lo) = no error``, ``f(hi) = error`` and cut the interval at
   ``fanout`` evenly spaced sizes per round until ``hi = lo + 1``;
3. confirm with fresh runs at ``hi - 1`` and ``hi``: no error then an error ->
   ``confirmed``; otherwise the search is retried once from the confirmation,
   and an unstable result is reported as such, never hidden;
4. a result its own probes contradict is UNSTABLE (``contradicted_by`` names
   the sizes): an ALWAYS whose largest probe showed no error, a THRESHOLD
   with an error below it or none above it.
The error is assumed to be monotonic in the size (more bytes never make it go
away); a non-monotonic round keeps the *smallest* size that erred. The search
is told facts of probes that worked: a failed probe is retried by the driver
(capture.sweep.pool), never passed on as "no error".
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field, replace
from enum import StrEnum

from capture.sweep.facts import ProbeFacts


class Outcome(StrEnum):
    THRESHOLD = "threshold"  #: no error below N, an error from N on
    ALWAYS = "always"  #: an error already at the smallest size tried
    NEVER = "never"  #: no error up to the largest size tried
    UNSTABLE = "unstable"  #: the confirmation runs disagreed with the search
    FAILED = "failed"  #: probes kept failing (the harness could not run the scenario)


@dataclass(frozen=True)
class Threshold:
    outcome: Outcome
    lo: int  #: smallest size searched
    hi: int  #: largest size searched
    threshold: int | None = None  #: smallest size with an app error (THRESHOLD, ALWAYS: lo)
    confirmed: bool = False  #: fresh runs at threshold-1 (no error) and threshold (error) agreed
    probes: tuple[ProbeFacts, ...] = field(default=(), repr=False)  #: every probe, in the order run
    contradicted_by: tuple[int, ...] = ()  #: UNSTABLE: sizes whose probes contradict the result the search reached
    below: ProbeFacts | None = field(default=None, repr=False)  #: the confirmation run at threshold - 1
    at: ProbeFacts | None = field(default=None, repr=False)  #: the confirmation run at threshold (or lo/hi)

    @property
    def label(self) -> str:
        if self.outcome is Outcome.THRESHOLD:
            return str(self.threshold) + ("" if self.confirmed else " (unconfirmed)")
        if self.outcome is Outcome.ALWAYS:
            return f"always (>= {self.lo})"
        if self.outcome is Outcome.NEVER:
            return f"never (<= {self.hi})"
        return self.outcome.value


Results = dict[int, ProbeFacts]
Search = Generator[list[int], Results, Threshold]


def cut_points(lo: int, hi: int, fanout: int) -> list[int]:
    """Up to ``fanout`` distinct sizes strictly between lo and hi, evenly spaced."""
    points = {lo + (hi - lo) * i // (fanout + 1) for i in range(1, fanout + 1)}
    return sorted(p for p in points if lo < p < hi) or [(lo + hi) // 2]


def contradictions(probes: tuple[ProbeFacts, ...], threshold: int | None, erred) -> tuple[int, ...]:
    """Sizes whose probe disagrees with "an error from ``threshold`` on" (None: never an error)."""
    return tuple(sorted({p.size for p in probes if erred(p) != (threshold is not None and p.size >= threshold)}))


def checked(result: Threshold, erred) -> Threshold:
    """``result``, or UNSTABLE when its own probes contradict it (rule 4)."""
    if result.outcome not in (Outcome.THRESHOLD, Outcome.ALWAYS, Outcome.NEVER):
        return result
    against = contradictions(result.probes, result.threshold, erred)
    if not against:
        return result
    return replace(result, outcome=Outcome.UNSTABLE, confirmed=False, contradicted_by=against)


def search(lo: int, hi: int, fanout: int = 1, erred=lambda f: f.app_error) -> Search:
    """The threshold search (module docstring); ``erred(facts)`` says whether a probe counts as an error."""
    return checked((yield from _search(lo, hi, fanout, erred)), erred)


def _search(lo: int, hi: int, fanout: int, erred) -> Search:
    if lo < 0 or hi < lo:
        raise ValueError(f"bad size range {lo}..{hi}")
    probes: list[ProbeFacts] = []

    def ask(sizes: list[int]) -> Generator[list[int], Results, Results]:
        got = yield sizes
        probes.extend(got[n] for n in sizes)
        return got

    ends = yield from ask(sorted({lo, hi}))
    if erred(ends[lo]):
        return Threshold(Outcome.ALWAYS, lo, hi, threshold=lo, confirmed=True, probes=tuple(probes), at=ends[lo])
    if not erred(ends[hi]):
        return Threshold(Outcome.NEVER, lo, hi, probes=tuple(probes), at=ends[hi])

    good, bad = lo, hi
    for attempt in range(2):
        while bad - good > 1:
            got = yield from ask(cut_points(good, bad, fanout))
            erring = [n for n in sorted(got) if erred(got[n])]
            bad = erring[0] if erring else bad
            good = max([n for n in got if n < bad and not erred(got[n])], default=good)
        check = yield from ask([bad - 1, bad])
        below, at = check[bad - 1], check[bad]
        if not erred(below) and erred(at):
            return Threshold(Outcome.THRESHOLD, lo, hi, threshold=bad, confirmed=True, probes=tuple(probes), below=below, at=at)
        # the confirmation disagreed: search again inside what the fresh runs say
        if erred(below):
            good, bad = max(lo, good - (bad - good) * 4, 0), bad - 1  # widen below: an error came earlier
            if bad <= good:
                break
        else:
            good, bad = bad, min(hi, bad + max(4, (bad - good) * 4))  # no error at bad: it lies higher
    return Threshold(Outcome.UNSTABLE, lo, hi, threshold=bad, probes=tuple(probes), below=below, at=at)
