"""Showing course_lib's own code in the book, so the book never holds a second copy."""
from __future__ import annotations

import inspect


def show_source(*objects):
    """Display the source of functions or classes as a highlighted Python block.

    In Jupyter and in the built book the result renders as Markdown; the code shown is
    read from the installed ``course_lib`` at run time, so it is always the tested code.
    """
    from IPython.display import Markdown  # imported here: course_lib itself needs no IPython

    blocks = "\n\n".join(inspect.getsource(obj).rstrip() for obj in objects)
    return Markdown(f"```python\n{blocks}\n```")
