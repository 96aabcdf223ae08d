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

# A cell that runs longer than this (seconds) is interrupted and fails; every chapter runs in
# seconds. For one run: `nbgrader autograde 01_embeddings --ExecutePreprocessor.timeout=300`.
c.ExecutePreprocessor.timeout = 120
c.ExecutePreprocessor.interrupt_on_timeout = True

# Submissions are untrusted code: `nbgrader autograde` runs each one in a sandbox
# (autograder/kernel_manager.py: bubblewrap, resource limits and, as root, a user of its own),
# and refuses to grade if the sandbox cannot run here. The tests run in a second sandboxed
# kernel that never runs the learner's code (autograder/split_execute.py), so patching
# numpy, course_lib or IPython in a notebook cannot make a test pass. The limits can be changed here or
# on the command line, e.g. `--SandboxedKernelManager.memory_limit=8589934592`.
c.Autograde.autograde_preprocessors = [
    "autograder.split_execute.SplitExecute",  # instead of nbgrader's Execute; the rest as in nbgrader 0.9.6
    "autograder.feedback.SanitizeOutputs",  # no script or other active content in what a submission output
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# What a submission may be (autograder/intake.py): a file that is not a notebook, a missing or
# renamed notebook, changed nbgrader metadata, deleted or added graded cells. Each is graded as it
# deserves (a broken or missing notebook scores 0), reported in the log as "[intake] student ...",
# and never stops the grading of the others.
c.Autograde.exporter_class = "autograder.intake.SubmissionExporter"
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",  # as in nbgrader 0.9.6, with CheckSubmission before its checks
    "autograder.repair.CheckSubmission",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback shows each student the scores and failure messages, never the hidden tests' code,
# and loads nothing from the web (autograder/feedback.py).
import autograder.feedback  # noqa: E402

c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# The feedback pages show what a submission wrote: their HTML (Markdown answers included) is sanitised.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.extra_template_basedirs = [
    autograder.feedback.TEMPLATE_DIR,
    os.path.join(os.path.dirname(__import__("nbgrader").__file__), "server_extensions", "formgrader", "templates"),
]
