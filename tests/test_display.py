import course_lib
from course_lib.display import show_source


def test_show_source_renders_the_installed_code_as_a_python_block():
    listing = show_source(course_lib.one_hot, course_lib.embed).data
    assert listing.startswith("```python\ndef one_hot(") and listing.endswith("\n```")
    assert "def embed(" in listing
    assert "np.put_along_axis(vectors" in listing  # the real body, not a summary
