"""Plausible wrong answers to every graded function: the hidden tests must reject each one.

Each entry is the code a learner might hand in for that answer cell. They are the
mistakes the course warns about: a missing or wrong scale, the wrong axis, a transposed
batch, an off-by-one, the wrong order of outputs — and simply calling course_lib.
"""

WRONG_ANSWERS = {
    "01_embeddings": {
        "one_hot": {
            "integer dtype": "def one_hot(ids, vocab_size):\n    return np.eye(vocab_size, dtype=int)[ids]",
            "off by one": "def one_hot(ids, vocab_size):\n    return np.eye(vocab_size)[np.asarray(ids) - 1]",
            "flattens the batch": "def one_hot(ids, vocab_size):\n    return np.eye(vocab_size)[np.ravel(ids)]",
            "size taken from the ids": "def one_hot(ids, vocab_size):\n    return np.eye(np.max(ids) + 1)[ids]",
            "calls the reference": "def one_hot(ids, vocab_size):\n    return course_lib.one_hot(ids, vocab_size)",
            "calls the reference through an alias": (
                "from course_lib.embeddings import one_hot as reference\n"
                "def one_hot(ids, vocab_size):\n    return reference(ids, vocab_size)"
            ),
        },
        "embed": {
            "transposed batch": "def embed(ids, table):\n    return np.asarray(table).T[:, ids].T",
            "flattens the batch": "def embed(ids, table):\n    return np.asarray(table)[np.ravel(ids)]",
            "off by one": "def embed(ids, table):\n    return np.asarray(table)[np.asarray(ids) - 1]",
            "indexes columns": "def embed(ids, table):\n    return np.asarray(table)[:, ids]",
            "calls the reference": "def embed(ids, table):\n    return course_lib.one_hot(ids, len(table)) @ table",
        },
        "cosine_similarity": {
            "no normalisation": "def cosine_similarity(a, b):\n    return a @ b.T",
            "normalises over the wrong axis": (
                "def cosine_similarity(a, b):\n"
                "    return (a / np.linalg.norm(a, axis=0)) @ (b / np.linalg.norm(b, axis=0)).T"
            ),
            "normalises only a": "def cosine_similarity(a, b):\n    return (a / np.linalg.norm(a, axis=1, keepdims=True)) @ b.T",
            "transposed result": (
                "def cosine_similarity(a, b):\n"
                "    a = a / np.linalg.norm(a, axis=1, keepdims=True)\n"
                "    b = b / np.linalg.norm(b, axis=1, keepdims=True)\n"
                "    return b @ a.T"
            ),
            "calls the reference": "def cosine_similarity(a, b):\n    return course_lib.cosine_similarity(a, b)",
        },
    },
    "02_qkv": {
        "project_qkv": {
            "queries and keys swapped": "def project_qkv(x, w_q, w_k, w_v):\n    return x @ w_k, x @ w_q, x @ w_v",
            "one matrix for queries and keys": "def project_qkv(x, w_q, w_k, w_v):\n    return x @ w_q, x @ w_q, x @ w_v",
            "transposed weights": "def project_qkv(x, w_q, w_k, w_v):\n    return x @ w_q.T, x @ w_k.T, x @ w_v.T",
            "loses the batch axes": (
                "def project_qkv(x, w_q, w_k, w_v):\n"
                "    rows = np.reshape(x, (-1, np.shape(x)[-1]))\n"
                "    return rows @ w_q, rows @ w_k, rows @ w_v"
            ),
            "calls the reference": "def project_qkv(x, w_q, w_k, w_v):\n    return course_lib.project_qkv(x, w_q, w_k, w_v)",
        },
        "hard_lookup": {
            "best by angle, not dot product": (
                "def hard_lookup(q, k, v):\n"
                "    k = k / np.linalg.norm(k, axis=-1, keepdims=True)\n"
                "    best = (q @ np.swapaxes(k, -1, -2)).argmax(-1)\n"
                "    return np.take_along_axis(v, best[..., None], axis=-2)"
            ),
            "argmin": (
                "def hard_lookup(q, k, v):\n"
                "    best = (q @ np.swapaxes(k, -1, -2)).argmin(-1)\n"
                "    return np.take_along_axis(v, best[..., None], axis=-2)"
            ),
            "returns the key": (
                "def hard_lookup(q, k, v):\n"
                "    best = (q @ np.swapaxes(k, -1, -2)).argmax(-1)\n"
                "    return np.take_along_axis(k, best[..., None], axis=-2)"
            ),
            "k.T on a batch": (
                "def hard_lookup(q, k, v):\n"
                "    best = (q @ k.T).argmax(-1)\n"
                "    return np.take_along_axis(v, best[..., None], axis=-2)"
            ),
            "calls the reference": "def hard_lookup(q, k, v):\n    return course_lib.hard_lookup(q, k, v)",
        },
        "mix_values": {
            "plain average of the values": (
                "def mix_values(weights, v):\n"
                "    return np.repeat(v.mean(axis=-2, keepdims=True), np.shape(weights)[-2], axis=-2)"
            ),
            "sums over the wrong axis": (
                "def mix_values(weights, v):\n"
                "    return (np.asarray(weights)[..., :, :, None] * np.asarray(v)[..., None, :, :]).sum(axis=-3)"
            ),
            "transposed weights": "def mix_values(weights, v):\n    return np.swapaxes(weights, -1, -2) @ v",
            "calls the reference": "def mix_values(weights, v):\n    return course_lib.mix_values(weights, v)",
        },
    },
    "03_scores": {
        "attention_scores": {
            "k.T on a batch": "def attention_scores(q, k):\n    return q @ k.T",
            "keys against queries": "def attention_scores(q, k):\n    return k @ np.swapaxes(q, -1, -2)",
            "np.dot on a batch": "def attention_scores(q, k):\n    return np.dot(q, np.swapaxes(k, -1, -2))",
            "transpose written for 3-D only": (
                "def attention_scores(q, k):\n"
                "    return q @ (np.transpose(k, (0, 2, 1)) if np.ndim(k) == 3 else np.transpose(k))"
            ),
            "calls the reference": "def attention_scores(q, k):\n    return course_lib.attention_scores(q, k)",
        },
        "scaled_attention_scores": {
            "missing scale": "def scaled_attention_scores(q, k):\n    return attention_scores(q, k)",
            "divides by d_k": "def scaled_attention_scores(q, k):\n    return attention_scores(q, k) / np.shape(q)[-1]",
            "scales by the number of keys": (
                "def scaled_attention_scores(q, k):\n    return attention_scores(q, k) / np.sqrt(np.shape(k)[-2])"
            ),
            "scales by the number of queries": (
                "def scaled_attention_scores(q, k):\n    return attention_scores(q, k) / np.sqrt(np.shape(q)[-2])"
            ),
            "calls the reference": "def scaled_attention_scores(q, k):\n    return course_lib.scaled_attention_scores(q, k)",
        },
        "self_attention_scores": {
            "scales by the model size": (
                "def self_attention_scores(x, w_q, w_k):\n"
                "    return attention_scores(x @ w_q, x @ w_k) / np.sqrt(np.shape(x)[-1])"
            ),
            "queries used as keys": "def self_attention_scores(x, w_q, w_k):\n    return scaled_attention_scores(x @ w_q, x @ w_q)",
            "keys against queries": "def self_attention_scores(x, w_q, w_k):\n    return scaled_attention_scores(x @ w_k, x @ w_q)",
            "missing scale": "def self_attention_scores(x, w_q, w_k):\n    return attention_scores(x @ w_q, x @ w_k)",
            "calls the reference": (
                "def self_attention_scores(x, w_q, w_k):\n    return course_lib.self_attention_scores(x, w_q, w_k)"
            ),
        },
    },
}
