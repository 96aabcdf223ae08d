import numpy as np
import matplotlib.pyplot as plt

import course_lib  # the reference, used by the tests only
from course_lib.grading import call_own_code  # runs your function with the reference blocked

def one_hot(ids, vocab_size):
    ids = np.asarray(ids)
    return np.eye(vocab_size)[ids]


ids = np.array([3, 0, 2])
result = call_own_code(one_hot, ids, 5)
assert result.shape == (3, 5), f"expected shape (3, 5), got {np.shape(result)}"
assert np.array_equal(result, [[0, 0, 0, 1, 0], [1, 0, 0, 0, 0], [0, 0, 1, 0, 0]])

# Try your function on your own examples here.

def embed(ids, table):
    return np.asarray(table)[np.asarray(ids)]


table = np.arange(12.0).reshape(4, 3)  # V = 4 words, d = 3
result = call_own_code(embed, np.array([2, 0]), table)
assert np.shape(result) == (2, 3), f"expected shape (2, 3), got {np.shape(result)}"
assert np.array_equal(result, [[6, 7, 8], [0, 1, 2]])



def cosine_similarity(a, b):
    a_unit = a / np.linalg.norm(a, axis=1, keepdims=True)
    b_unit = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a_unit @ b_unit.T


a = np.array([[1.0, 0.0], [1.0, 1.0]])
b = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
result = call_own_code(cosine_similarity, a, b)
assert np.shape(result) == (2, 3), f"expected shape (2, 3), got {np.shape(result)}"
np.testing.assert_allclose(result, [[1, 0, -1], [2**-0.5, 2**-0.5, -(2**-0.5)]], atol=1e-12)



tokenizer = course_lib.WordTokenizer.fit(["the cat sat on the mat"])
words = ["the", "cat", "sat", "on", "mat"]
ids = np.array([tokenizer.token_to_id[w] for w in words])
one_hots = course_lib.one_hot(ids, len(tokenizer))
vectors = course_lib.embed(ids, course_lib.random_embedding_table(len(tokenizer), 5, seed=0))

fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, (title, x) in zip(axes, [("one-hot vectors", one_hots), ("random embeddings (d = 5)", vectors)]):
    image = ax.imshow(course_lib.cosine_similarity(x, x), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(words)), words)
    ax.set_yticks(range(len(words)), words)
    ax.set_title(title)
fig.colorbar(image, ax=axes, label="cosine similarity")
plt.show()

