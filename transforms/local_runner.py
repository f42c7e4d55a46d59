"""Make the BundleBasedDirectRunner's cost per bundle small, for the local streaming path.

That runner unpickles every DoFn for every bundle and then inspects the
signature of every method of it (``get_dofn_specs``, ``DoFnSignature``):
about 160 ``inspect.signature`` calls, some 0.02 s, per bundle of every step,
whatever the bundle holds. A stream that runs in many small bundles (every
watermark move makes a round of bundles through the graph) spent most of its
time there. The signatures of methods and module-level functions never change
while a process runs, nor do the state and timer specs of a DoFn class, so
:func:`cache_signatures` memoizes them; functions
made at run time (lambdas, closures, which the runner re-creates for every
bundle) are not cached. Only the local runner path installs it.

:func:`lighten_bundles` removes two more costs of that runner that grow with
the graph rather than with the data: it ran every consumer of every output of
every bundle, empty ones included (a step with four outputs made four rounds
of downstream bundles per input bundle, most of them empty; the runner's
watermarks already ignore empty bundles), and it deep-copied a key's pending
timers (immutable timestamps) for every bundle that touched the key.
"""

from __future__ import annotations

import collections
import copy
import inspect
import threading
import types

_MAX_CACHED = 20_000
_installed = False
_lightened = False
_lock = threading.Lock()


def _cache_key(func):
    """What a signature depends on, for callables that live as long as the process; else None."""
    target = func.__func__ if inspect.ismethod(func) else func
    if not isinstance(target, types.FunctionType) or "<" in target.__qualname__:
        return None  # lambdas and closures: new objects for every bundle
    return (inspect.ismethod(func), target)


def caching(original):
    """``original`` (Beam's get_signature) with its results cached per function."""
    cache: dict = {}

    def get_signature(func):
        key = _cache_key(func)
        if key is None:
            return original(func)
        signature = cache.get(key)
        if signature is None:
            signature = original(func)
            if len(cache) >= _MAX_CACHED:
                cache.clear()
            cache[key] = signature
        return signature

    # A marker that the function is already wrapped (mypy does not know function attributes).
    get_signature.__wrapped_original__ = original  # type: ignore[attr-defined]
    return get_signature


def _specs_key(dofn):
    """DoFns whose state and timer specs follow from their class alone; else None."""
    from apache_beam.transforms.core import CallableWrapperDoFn

    cls = type(dofn)
    if "<" in cls.__qualname__ or isinstance(dofn, CallableWrapperDoFn):
        return None
    if any(isinstance(value, types.MethodType) for value in vars(dofn).values()):
        return None  # methods set on the instance
    return cls


def caching_specs(original):
    """``original`` (Beam's DoFn state and timer specs) with its results cached per DoFn."""
    cache: dict = {}

    def get_dofn_specs(dofn):
        key = _specs_key(dofn)
        if key is None:
            return original(dofn)
        specs = cache.get(key)
        if specs is None:
            specs = cache[key] = original(dofn)
        return set(specs[0]), set(specs[1])

    return get_dofn_specs


def cache_signatures() -> None:
    """Memoize Beam's ``get_signature`` and ``get_dofn_specs`` wherever Beam imports them."""
    global _installed
    with _lock:
        if _installed:
            return
        from apache_beam.transforms import core, ptransform, util
        from apache_beam.typehints import decorators

        cached = caching(decorators.get_signature)
        for module in (decorators, core, ptransform, util):
            module.get_signature = cached  # type: ignore[attr-defined]  # not declared in every module
        from apache_beam.runners.direct import transform_evaluator
        from apache_beam.transforms import userstate

        specs = caching_specs(userstate.get_dofn_specs)
        userstate.get_dofn_specs = specs
        transform_evaluator.get_dofn_specs = specs
        transform_evaluator.is_stateful_dofn = lambda dofn: any(specs(dofn))
        _installed = True


def consumers_of_nonempty_bundles(original):
    """``original`` (the runner's ``schedule_consumers``), skipping bundles without elements.

    An empty bundle holds no watermark (the runner's watermark manager leaves
    it out of the pending work already) and gives a consumer nothing to do;
    timers reach a step in bundles of their own.
    """

    def schedule_consumers(executor, committed_bundle) -> None:
        if committed_bundle.has_elements():
            original(executor, committed_bundle)

    schedule_consumers.__wrapped_original__ = original  # type: ignore[attr-defined]
    return schedule_consumers


def copy_unmerged_state(state, new_state):
    """A copy of a key's state for one bundle: ``new_state`` filled from ``state``.

    The same copy as Beam's ``InMemoryUnmergedState.copy``, but the timers'
    maps are copied one level deep only: their keys are tuples of strings and
    windows, their values timestamps, all immutable, so a deep copy of them
    bought nothing and cost most of a bundle on a key with many timers.
    """
    new_state.timers = collections.defaultdict(
        dict, {window: dict(timers) for window, timers in state.timers.items()}
    )
    new_state.global_state = copy.deepcopy(state.global_state)
    for window in state.state:
        for tag in state.state[window]:
            new_state.state[window][tag] = copy.copy(state.state[window][tag])
    return new_state


def lighten_bundles() -> None:
    """Install :func:`consumers_of_nonempty_bundles` and the cheaper keyed-state copy."""
    global _lightened
    with _lock:
        if _lightened:
            return
        from apache_beam.runners.direct import executor
        from apache_beam.transforms import trigger

        parallel = executor._ExecutorServiceParallelExecutor
        parallel.schedule_consumers = consumers_of_nonempty_bundles(  # type: ignore[method-assign]
            parallel.schedule_consumers
        )
        unmerged = trigger.InMemoryUnmergedState

        def copy_state(self):
            return copy_unmerged_state(self, unmerged(defensive_copy=self.defensive_copy))

        unmerged.copy = copy_state  # type: ignore[method-assign]
        _lightened = True
