"""Hostile answers to exercise 1 (01_embeddings), for tests/grading/test_autograde_sandbox.py.

Each is the source of a cell a learner may write in: an answer cell (grade ids ``one_hot``,
``embed``, ``cosine_similarity``) or one of the free cells that follow each test cell.
Everything here is bounded, so that a sandbox that failed to stop it would fail the test
without taking the machine down: the memory bomb stops at 4 GiB, the process bomb at 1000
sleeping processes. The notebook runs in ``<course>/autograded/<student>/01_embeddings``,
so the course root is three folders up.
"""

COURSE_ROOT = 'ROOT = __import__("os").path.abspath("../../..")\n'

INFINITE_LOOP = "while True:\n    pass\n\n"

SLEEPING_EMBED = '''def embed(ids, table):
    import time
    time.sleep(3600)
    return table[ids]
'''

# Catches the interrupt nbgrader sends at the time limit: only replacing the kernel stops it.
UNINTERRUPTIBLE_LOOP = '''while True:
    try:
        while True:
            pass
    except KeyboardInterrupt:
        print("interrupt ignored")
'''

MEMORY_BOMB = '''blocks = []
for _ in range(64):  # 64 x 64 MiB = 4 GiB, each page written
    blocks.append(b"\\x01" * (64 << 20))

'''
MEMORY_BOMB_REPORT = 'print(f"memory bomb: {len(blocks) * 64} MiB held"); del blocks\n'

PROCESS_BOMB = '''import os, time
children = 0
for _ in range(1000):
    if os.fork() == 0:
        time.sleep(120)
        os._exit(0)
    children += 1

'''
PROCESS_BOMB_REPORT = 'print(f"process bomb: {children} processes started")\n'
# Free cell: each process stays under the per-process memory limit, together they do not.
FORKED_MEMORY_BOMB = """import os, time
for _ in range(8):
    if os.fork() == 0:
        held = b"m" * (300 << 20)  # 300 MiB, written, in each of 8 processes
        time.sleep(30)
        os._exit(0)
    time.sleep(0.3)
time.sleep(5)
print("forked memory bomb: not stopped")
"""

EXIT_PROCESS = "import os\nos._exit(0)\n\n"
SYS_EXIT = "import sys\nsys.exit()\n\n"
KILLS_ITS_PARENT = '''def embed(ids, table):
    import os, signal
    os.kill(os.getppid(), signal.SIGKILL)
'''
KILLS_ITSELF = '''def cosine_similarity(a, b):
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
'''

PRINT_FLOOD = 'for _ in range(50):\n    print("x" * (1 << 20))  # 50 MiB\n\n'
FD_FLOOD = 'import os\nos.write(1, b"y" * (20 << 20))  # 20 MiB straight to file descriptor 1\n\n'
DISPLAY_FLOOD = '''from IPython.display import HTML, display
for _ in range(100):
    display(HTML("<p>" + "z" * 100_000 + "</p>"))  # 10 MB of rich output
'''

# Free cells: fill the disk of the grading machine, with big files, then with many small ones.
# Each runs for seconds (the grader checks the disk twice a second) and stops by itself at a
# bounded size, so a grader without the check fails the test without filling the disk.
DISK_FLOOD = """import os, time
os.makedirs("flood/deeper", exist_ok=True)
for i in range(64):
    with open(f"flood/deeper/{i}.bin", "wb") as f:
        f.write(os.urandom(4 << 20))  # 4 MiB a file (under the file size limit), 256 MiB in all
    time.sleep(0.03)
print("disk flood: all written")
"""
FILE_FLOOD = """import os, time
for i in range(20_000):
    open(f"many_{i}.txt", "w").close()
    if i % 100 == 0:
        time.sleep(0.01)
print("file flood: all written")
"""

# Free cell after test_one_hot: read what a submission must not see; print what it got.
READS = COURSE_ROOT + '''import glob, os
stolen = {}
targets = {
    "solutions": f"{ROOT}/solutions/01_embeddings/01_embeddings.ipynb",
    "gradebook": f"{ROOT}/gradebook.db",
    "config": f"{ROOT}/nbgrader_config.py",
    "other submission": f"{ROOT}/submitted/a_good/01_embeddings/01_embeddings.ipynb",
    "other graded notebook": f"{ROOT}/autograded/a_good/01_embeddings/01_embeddings.ipynb",
    "own notebook with hidden tests": "01_embeddings.ipynb",
    "grader's home": os.path.expanduser("~root/.bashrc"),
    "another clone's solutions": "CLONE_SOLUTIONS",  # the test puts the repository's own path here
}
for name, path in targets.items():
    try:
        with open(path, "rb") as f:
            stolen[name] = f.read()
        print(f"{name}: LEAKED {len(stolen[name])} bytes")
    except OSError as error:
        stolen[name] = None
        print(f"{name}: denied ({type(error).__name__})")
for name in ["solutions", "submitted", "feedback"]:
    print(f"{name}/: {'LEAKED' if os.path.exists(f'{ROOT}/{name}') else 'absent'}")
print("students visible:", sorted(os.listdir(f"{ROOT}/autograded")))
leaks = []
for path in glob.glob(f"{ROOT}/**/*.ipynb", recursive=True):
    try:
        if "BEGIN HIDDEN TESTS" in open(path, errors="replace").read():
            leaks.append(path)
    except OSError:
        pass
print("notebooks with hidden tests:", leaks or "none")
assert all(v is None for v in stolen.values())
'''

# Free cell after test_embed: write and delete outside its folder (and once inside it).
WRITES = COURSE_ROOT + '''import os, shutil
other, other_graded = f"{ROOT}/submitted/a_good/01_embeddings", f"{ROOT}/autograded/a_good/01_embeddings"
attempts = {
    "overwrite gradebook": lambda: open(f"{ROOT}/gradebook.db", "wb").write(b"pwned"),
    "delete gradebook": lambda: os.remove(f"{ROOT}/gradebook.db"),
    "write at course root": lambda: open(f"{ROOT}/pwned.txt", "w").write("pwned"),
    "delete solutions": lambda: shutil.rmtree(f"{ROOT}/solutions"),
    "write into solutions": lambda: open(f"{ROOT}/solutions/01_embeddings/pwned.txt", "w").write("pwned"),
    "overwrite another submission": lambda: open(f"{other}/01_embeddings.ipynb", "w").write("{}"),
    "write into another graded folder": lambda: open(f"{other_graded}/pwned.txt", "w").write("pwned"),
    "overwrite own graded notebook": lambda: open("01_embeddings.ipynb", "w").write("{}"),
    "delete own graded notebook": lambda: os.remove("01_embeddings.ipynb"),
    "write in /tmp": lambda: open("/tmp/pwned-g_snooper.txt", "w").write("pwned"),
    "write in own folder": lambda: open("notes.txt", "w").write("mine"),
}
for name, attempt in attempts.items():
    try:
        attempt()
        print(f"{name}: done")
    except OSError as error:
        print(f"{name}: denied ({type(error).__name__})")
'''

# Free cell after test_cosine_similarity: leave links and a FIFO in its folder, aimed at
# the files nbgrader writes as the instructor once the kernel is gone.
TRAPS = COURSE_ROOT + '''import os
os.symlink(f"{ROOT}/gradebook.db", "evil_link")
os.mkfifo("a_fifo")
try:
    os.replace("evil_link", "01_embeddings.ipynb")
    print("notebook replaced by a link")
except OSError as error:
    print(f"replacing the notebook: denied ({type(error).__name__})")
'''

# Free cell: files that are almost all holes. Each stays under the file size limit and allocates
# next to nothing, but copies in full (nbgrader's feedback copies the folder): 16 x 32 MiB = 512 MiB
# of apparent size, which is what the disk limit counts (issue 25).
SPARSE_FILES = """import time
for i in range(16):
    with open(f"sparse_{i}.bin", "wb") as f:
        f.truncate(32 << 20)
    time.sleep(0.2)
time.sleep(3)
print("sparse files: all written")
"""

# Free cell: sleeps far past the notebook's time budget in one cell, under the per-cell limit.
SLEEPS_PAST_THE_BUDGET = "import time\ntime.sleep(100)\n"

# -- Fooling the checks instead of answering (graded in a kernel of their own) ------------

# Wrong answers, each with the checks its tests use patched to pass. Every patch happens in
# the learner's kernel; the tests run in the trusted kernel, so all of them fail anyway.
WRONG_ONE_HOT = '''def one_hot(ids, vocab_size):
    return np.zeros(np.shape(ids) + (vocab_size,))
'''
PATCHES_COMPARISONS = '''import numpy as np, torch
np.array_equal = lambda *args, **kwargs: True
np.allclose = lambda *args, **kwargs: True
np.testing.assert_array_equal = lambda *args, **kwargs: None
np.testing.assert_allclose = lambda *args, **kwargs: None
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
'''
HIDES_FAILURES = '''shell = get_ipython()
shell.showtraceback = lambda *args, **kwargs: None  # no error output: plain nbgrader gives full marks
shell._showtraceback = lambda *args, **kwargs: None
'''
WRONG_EMBED = '''def embed(ids, table):
    return np.zeros(np.shape(ids) + np.shape(table)[1:])
'''
# The reference made to agree with the wrong answer, and the course's helper made to let it.
PATCHES_THE_REFERENCE = '''import course_lib, course_lib.grading
course_lib.embed = embed
course_lib.embeddings.embed.__code__ = embed.__code__
course_lib.grading.call_own_code = lambda fn, *args, **kwargs: fn(*args, **kwargs)
'''
# Plainly calls the reference: course_lib.grading blocks it while the answer runs.
# Zeros written into the test's own arrays, then zeros returned: it would equal whatever the test
# computes from those arrays after the call, were the test's inputs not copies (issue 25).
OVERWRITES_ITS_INPUTS = '''def embed(ids, table):
    table[...] = 0
    return np.zeros(np.shape(ids) + np.shape(table)[1:])
'''
# The learner kernel's report of replaced checks made into a JSON nesting deeper than the parser's
# recursion limit: it once ended the student's grading with no grade at all (issue 25).
REPORT_BOMB = '''__import__("autograder.trusted_tests").trusted_tests.changed_checks = lambda: "[" * 5000
'''
# Active content in outputs, for the instructor's formgrader and the feedback pages (issue 25).
SCRIPTS = '''from IPython.display import HTML, Javascript, Markdown, display
display(HTML("<script>alert('html')</script><b>kept bold</b>"))
display(Javascript("alert('javascript')"))
display(Markdown("<script>alert('markdown')</script>"))
print("<script>alert('printed')</script>")
'''
# A written answer (Markdown) with active content, for the formgrader and the feedback (issue 25).
MARKDOWN_SCRIPTS = """One-hot vectors are orthogonal, so **every** pair has cosine 0 and each has 1 with itself.
<script>alert('answer')</script>
<img src="x" onerror="alert('image')">
<a href="javascript:alert('link')">a link</a> and [another](javascript:alert('markdown link'))
"""
CALLS_THE_REFERENCE = '''def cosine_similarity(a, b):
    return course_lib.cosine_similarity(a, b)
'''

# Answer cell embed: while a hidden test waits for it, a thread floods the output channel with
# multi-part messages (each part under the sockets' per-part limit), which nobody reads until the test
# is over; the grader would queue them in its own memory (issue 25). Bounded: 3 GiB at most.
FLOODS_THE_GRADER = '''import threading, time

def _flood():
    kernel = get_ipython().kernel
    part = b"x" * (8 << 20)
    for _ in range(48):  # 48 messages of 8 parts of 8 MiB
        kernel.session.send(kernel.iopub_socket, "display_data", {"data": {}, "metadata": {}}, buffers=[part] * 8)

def embed(ids, table):
    threading.Thread(target=_flood, daemon=True).start()
    time.sleep(8)
    return np.asarray(table)[np.asarray(ids)]
'''
