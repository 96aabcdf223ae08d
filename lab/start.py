"""Start JupyterLab for learners (`make lab`) or instructors (`make instructor-lab`).

    python lab/start.py learner --notebook-dir=my_work [more jupyter lab options]
    python lab/start.py instructor [more jupyter lab options]

Both start `jupyter lab` with this interpreter, adding --allow-root when run as root. The tests
(tests/test_browser.py) start the lab with this script too, so they test what `make lab` opens.

The learner's lab keeps nbgrader's Validate button (plugin @jupyter/nbgrader:validate-assignment,
server extension nbgrader.server_extensions.validate_assignment) and nothing else of nbgrader.
Its settings are the folder lab/learner/, put first on JUPYTER_CONFIG_PATH for this one process
(the user's own Jupyter configuration, ~/.jupyter, is neither changed nor ignored):

- lab/learner/labconfig/page_config.json disables (and locks, so that the Plugin Manager cannot
  turn them back on) the lab plugins Formgrader, Create Assignment, Course List, Assignment List
  and the Nbgrader menu, which held only those;
- lab/learner/jupyter_server_config.json disables the server extensions behind them: formgrader
  (/formgrader), course_list (/formgraders) and assignment_list (/assignments, /courses), and the
  package `nbgrader` as one extension (it would load all four; nbgrader's install does not enable
  it, another configuration could), and enables validate_assignment. Create Assignment has no
  server extension: it only edits cell metadata in the browser.

The Assignment List is dropped too: it fetches and submits through nbgrader's exchange, which a
learner's own machine does not have (nbgrader's default, /usr/local/share/nbgrader/exchange, is a
shared folder set up on a course's JupyterHub), so there it only shows an error. A hub configures
its own lab.

The instructor's lab is plain `jupyter lab` with every nbgrader tool, as nbgrader installs them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LEARNER_CONFIG = Path(__file__).resolve().parent / "learner"
ROLES = ("learner", "instructor")


def lab_command(role: str, options: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start the lab for `role`."""
    if role not in ROLES:
        raise SystemExit(f"usage: python lab/start.py {{{','.join(ROLES)}}} [jupyter lab options]; got {role!r}")
    command = [sys.executable, "-m", "jupyter", "lab", *options]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    env = dict(os.environ)
    if role == "learner":
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [str(LEARNER_CONFIG), env.get("JUPYTER_CONFIG_PATH")]))
    return command, env


def main(argv: list[str]) -> int:
    command, env = lab_command(argv[0] if argv else "", argv[1:])
    if os.name == "posix":
        os.execve(command[0], command, env)  # the server is this process: Ctrl+C and signals reach it
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
