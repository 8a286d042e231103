"""Seconds per output kind for run summaries: `timed(timings, "mesh")` adds the time of a `with` block to
`timings["mesh"]`, so writers accumulate into one dict without perf_counter pairs at every call.

```python
>>> timings = {}
>>> with timed(timings, "params"):
...     pass
>>> sorted(timings)
['params']

```
"""

import contextlib
import time
from collections.abc import Iterator


@contextlib.contextmanager
def timed(timings: dict[str, float] | None, name: str) -> Iterator[None]:
    """Add the seconds the `with` block takes (also when it raises) to `timings[name]` (0 when absent).
    `timings=None` times nothing, for writers called without a summary."""
    if timings is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


__all__ = ["timed"]
