"""nbgrader configuration for "Attention, from scratch".

The instructor's source notebooks (solutions and hidden tests) live in solutions/,
and `nbgrader generate_assignment <chapter>` writes the student release to exercises/.
Submissions, autograded notebooks, feedback and the gradebook stay under the course
root and are ignored by git.
"""
import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

# The course root is the folder holding this file, wherever nbgrader is started from.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# What the release replaces solutions with, and the markers it looks for.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Release notebooks must not carry outputs (they could leak solutions).
c.ClearOutput.enabled = True

# A notebook that runs longer than this is stopped; every chapter runs in seconds.
c.ExecutePreprocessor.timeout = 120
c.ExecutePreprocessor.interrupt_on_timeout = True
