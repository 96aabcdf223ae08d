"""Sandboxed autograding for nbgrader: the instructor's side of "Attention, from scratch".

A submission is untrusted code run on the instructor's machine. The course's
``nbgrader_config.py`` plugs these modules into ``nbgrader autograde``:

============================  ==========================================================
:mod:`~autograder.preflight`  before a class is graded: the reference solution must earn every
                              automatic point in the same sandbox, or nothing is graded
:mod:`~autograder.intake`     reading submissions defensively (broken, renamed, missing notebooks)
:mod:`~autograder.repair`     nbgrader's cells set back as the course made them (tampering)
:mod:`~autograder.split_execute`  the tests run in a kernel of their own that never runs learner code
:mod:`~autograder.trusted_tests`  the kernel side of that split; :mod:`~autograder.wire` its data
:mod:`~autograder.execute`    nbgrader's Execute step in the sandbox, surviving dead kernels
:mod:`~autograder.kernel_manager`  the sandboxed kernel: bubblewrap, prlimit, its own uid as root
:mod:`~autograder.mounts`     what a kernel sees of the file system
:mod:`~autograder.limits`     resource limits and the disk and memory watchdog
:mod:`~autograder.feedback`   feedback without the hidden tests, loading nothing from the web
:mod:`~autograder.collection` ``python -m autograder.collection``: an LMS export into submitted/
:mod:`~autograder.parallel`   ``python -m autograder.parallel``: a class on every core, one gradebook
============================  ==========================================================

The book's appendix "For instructors" says how to use them. Importing this package imports
nothing else: the modules that need nbgrader or jupyter_client import them themselves.
"""
