"""Submissions the nbgrader tests hand in (a package only so that its conftest.py has a name of its own)."""
