"""The files in this folder are submissions handed to nbgrader by the tests, not notebooks to run:
nbval (which collects every .ipynb under tests/) must leave them alone."""

collect_ignore_glob = ["*/*"]
