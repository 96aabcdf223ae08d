"""Plausible wrong answers to every graded function: the hidden tests must reject each one.

Each entry is the code a learner might hand in for that answer cell. They are the
mistakes the course warns about: a missing or wrong scale, the wrong axis, a transposed
batch, an off-by-one, the wrong order of outputs — and simply calling course_lib.
"""

# A learner's own row softmax, used by the wrong masked_attention answers below.
ROW_SOFTMAX = (
    "def row_softmax(s):\n"
    "    e = np.exp(s - np.max(s, axis=-1, keepdims=True))\n"
    "    return e / e.sum(axis=-1, keepdims=True)\n"
)

# The start of a learner's greedy loop, shared by the wrong greedy_decode answers below.
GREEDY_HEAD = (
    "def greedy_decode(model, src_ids, bos_id, eos_id, max_len):\n"
    "    with torch.no_grad():\n"
    "        memory, src_mask = model.encode(src_ids)\n"
    "        out = torch.full((len(src_ids), 1), bos_id, dtype=torch.long)\n"
    "        for _ in range(max_len):\n"
    "            n = out.shape[1]\n"
    "            causal = torch.ones(n, n, dtype=torch.bool).tril()\n"
)

# The start of a learner's kv_cache_step that appends before attending, shared by the wrong
# kv_cache_step answers below (they differ in how they attend).
KV_APPEND = ROW_SOFTMAX + (
    "def kv_cache_step(x_new, k_cache, v_cache, w_q, w_k, w_v):\n"
    "    q = x_new @ w_q\n"
    "    k_cache = np.concatenate([k_cache, (x_new @ w_k)[..., None, :]], axis=-2)\n"
    "    v_cache = np.concatenate([v_cache, (x_new @ w_v)[..., None, :]], axis=-2)\n"
)

# The start of a learner's attention_pool, shared by the wrong answers below: the scaled scores (B, L).
POOL_SCORES = (
    "def attention_pool(h, query, mask=None):\n"
    "    h = np.asarray(h, dtype=float)\n"
    "    mask = np.ones(h.shape[:2], bool) if mask is None else np.asarray(mask, bool)\n"
    "    s = h @ query / np.sqrt(h.shape[-1])\n"
)

# The start of a learner's sliding_window_mask, shared by the wrong answers below: i - j for every pair.
WINDOW_DISTANCE = (
    "def sliding_window_mask(n, window):\n"
    "    d = np.arange(n)[:, None] - np.arange(n)[None, :]\n"
)

# The start of a learner's grouped_query_attention with the right grouping, shared by the wrong answers below.
GQA_GROUPED = (
    "def grouped_query_attention(q, k, v, mask=None):\n"
    "    g = q.shape[1] // k.shape[1]\n"
    "    k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)\n"
)

# The start of a learner's top_p_filter: the probabilities sorted from most to least likely.
TOP_P_SORTED = (
    "def top_p_filter(logits, top_p):\n"
    "    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)\n"
    "    probs = torch.softmax(sorted_logits, dim=-1)\n"
)
# ... and its end: drop_sorted (in sorted order) back to the tokens' order, -inf where dropped.
TOP_P_SCATTER = (
    "    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)\n"
    "    return logits.masked_fill(drop, float('-inf'))"
)

# The start of a learner's best_span: float arrays and each window's softmax. SPAN_VALID adds the candidates.
SPAN_PROBS = (
    "def best_span(start_logits, end_logits, allowed, max_answer_len=30):\n"
    "    a, b = np.asarray(start_logits, dtype=float), np.asarray(end_logits, dtype=float)\n"
    "    ok = np.asarray(allowed, dtype=bool)\n"
    "    p, q = np.exp(a - a.max()), np.exp(b - b.max())\n"
    "    p, q = p / p.sum(), q / q.sum()\n"
    "    n = len(a)\n"
    "    length = np.arange(n)[None, :] - np.arange(n)[:, None] + 1\n"
)
SPAN_VALID = SPAN_PROBS + "    valid = (length >= 1) & (length <= max_answer_len) & ok[:, None] & ok[None, :]\n"

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
            # Zeros written into the test's own table, then zeros returned: equal to an expected value
            # computed after the call from that table, unless the test's inputs are copies (issue 25).
            "zeros its inputs in place": (
                "def embed(ids, table):\n    table[...] = 0\n    return np.zeros((np.size(ids), np.shape(table)[1]))"
                ".reshape(*np.shape(ids), np.shape(table)[1])"
            ),
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
            "zeros its inputs in place": (
                "def attention_scores(q, k):\n    q[...] = 0\n    k[...] = 0\n"
                "    return np.zeros(np.shape(q)[:-1] + np.shape(k)[-2:-1])"
            ),
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
            "zeros its inputs in place": (
                "def scaled_attention_scores(q, k):\n    q[...] = 0\n    k[...] = 0\n"
                "    return np.zeros(np.shape(q)[:-1] + np.shape(k)[-2:-1])"
            ),
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
            "zeros its inputs in place": (
                "def self_attention_scores(x, w_q, w_k):\n    x[...] = 0\n    w_q[...] = 0\n    w_k[...] = 0\n"
                "    return np.zeros(np.shape(x)[:-1] + np.shape(x)[-2:-1])"
            ),
        },
    },
    "04_softmax": {
        "softmax": {
            "naive, overflows": "def softmax(x, axis=-1):\n    e = np.exp(x)\n    return e / e.sum(axis=axis, keepdims=True)",
            "over the wrong axis": (
                "def softmax(x, axis=-1):\n"
                "    e = np.exp(x - np.max(x, axis=0, keepdims=True))\n"
                "    return e / e.sum(axis=0, keepdims=True)"
            ),
            "subtracts the global maximum": (
                "def softmax(x, axis=-1):\n    e = np.exp(x - np.max(x))\n    return e / e.sum(axis=axis, keepdims=True)"
            ),
            "normalises by the sum of everything": (
                "def softmax(x, axis=-1):\n    e = np.exp(x - np.max(x, axis=axis, keepdims=True))\n    return e / e.sum()"
            ),
            "ignores the axis argument": (
                "def softmax(x, axis=-1):\n"
                "    e = np.exp(x - np.max(x, axis=-1, keepdims=True))\n"
                "    return e / e.sum(axis=-1, keepdims=True)"
            ),
            "calls the reference": "def softmax(x, axis=-1):\n    return course_lib.softmax(x, axis)",
        },
        "entropy": {
            "0 log 0 is nan": "def entropy(p, axis=-1):\n    return -np.sum(p * np.log(p), axis=axis)",
            "log base 2": (
                "def entropy(p, axis=-1):\n    return -np.sum(p * np.log2(np.where(p > 0, p, 1.0)), axis=axis)"
            ),
            "wrong sign": "def entropy(p, axis=-1):\n    return np.sum(p * np.log(np.where(p > 0, p, 1.0)), axis=axis)",
            "sums over everything": "def entropy(p, axis=-1):\n    return -np.sum(p * np.log(np.where(p > 0, p, 1.0)))",
            "calls the reference": "def entropy(p, axis=-1):\n    return course_lib.entropy(p, axis)",
        },
        "scaled_dot_product_attention": {
            "missing scale": (
                "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                "    scores = q @ np.swapaxes(k, -1, -2)\n"
                "    if mask is not None:\n        scores = np.where(mask, scores, -np.inf)\n"
                "    w = softmax(scores)\n    return w @ v, w"
            ),
            "softmax over the queries": (
                "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])\n"
                "    if mask is not None:\n        scores = np.where(mask, scores, -np.inf)\n"
                "    w = softmax(scores, axis=-2)\n    return w @ v, w"
            ),
            "scales by the value size": (
                "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(v.shape[-1])\n"
                "    if mask is not None:\n        scores = np.where(mask, scores, -np.inf)\n"
                "    w = softmax(scores)\n    return w @ v, w"
            ),
            "inverted mask": (
                "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])\n"
                "    if mask is not None:\n        scores = np.where(mask, -1e9, scores)\n"
                "    w = softmax(scores)\n    return w @ v, w"
            ),
            "ignores the mask": (
                "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                "    w = softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]))\n    return w @ v, w"
            ),
            "calls the reference": (
                "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                "    return course_lib.scaled_dot_product_attention(q, k, v, mask)"
            ),
        },
    },
    "05_masking": {
        "causal_mask": {
            "inverted": "def causal_mask(n):\n    return np.triu(np.ones((n, n), dtype=bool), k=1)",
            "blocks the diagonal": "def causal_mask(n):\n    return np.tril(np.ones((n, n), dtype=bool), k=-1)",
            "off by one into the future": "def causal_mask(n):\n    return np.tril(np.ones((n, n), dtype=bool), k=1)",
            "zeros and ones": "def causal_mask(n):\n    return np.tril(np.ones((n, n)))",
            "upper triangle": "def causal_mask(n):\n    return np.triu(np.ones((n, n), dtype=bool))",
            "calls the reference": "def causal_mask(n):\n    return course_lib.causal_mask(n)",
        },
        "padding_mask": {
            "masks queries instead of keys": "def padding_mask(ids, pad_id):\n    return (np.asarray(ids) != pad_id)[:, :, None]",
            "no query axis": "def padding_mask(ids, pad_id):\n    return np.asarray(ids) != pad_id",
            "inverted": "def padding_mask(ids, pad_id):\n    return (np.asarray(ids) == pad_id)[:, None, :]",
            "assumes padding id 0": "def padding_mask(ids, pad_id):\n    return (np.asarray(ids) != 0)[:, None, :]",
            "calls the reference": "def padding_mask(ids, pad_id):\n    return course_lib.padding_mask(ids, pad_id)",
        },
        "masked_attention": {
            "the tutorial's additive mask": ROW_SOFTMAX + (
                "def masked_attention(q, k, v, mask):\n"
                "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) + np.asarray(mask) * -1e9\n"
                "    w = row_softmax(scores)\n    return w @ v, w"
            ),
            "masks after the softmax without renormalising": ROW_SOFTMAX + (
                "def masked_attention(q, k, v, mask):\n"
                "    w = row_softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])) * mask\n"
                "    return w @ v, w"
            ),
            "nan for a query that sees nothing": ROW_SOFTMAX + (
                "def masked_attention(q, k, v, mask):\n"
                "    scores = np.where(mask, q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]), -np.inf)\n"
                "    w = row_softmax(scores)\n    return w @ v, w"
            ),
            "masks queries instead of keys": ROW_SOFTMAX + (
                "def masked_attention(q, k, v, mask):\n"
                "    mask = np.swapaxes(np.broadcast_to(mask, q.shape[:-1] + (k.shape[-2],)), -1, -2)\n"
                "    scores = np.where(mask, q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]), -1e9)\n"
                "    w = row_softmax(scores) * mask\n"
                "    w = np.divide(w, w.sum(-1, keepdims=True), out=np.zeros_like(w), where=w.sum(-1, keepdims=True) > 0)\n"
                "    return w @ v, w"
            ),
            "-1e9 fill: uniform weights for a query that sees nothing": ROW_SOFTMAX + (
                "def masked_attention(q, k, v, mask):\n"
                "    scores = np.where(mask, q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]), -1e9)\n"
                "    w = row_softmax(scores)\n    return w @ v, w"
            ),
            "calls the reference": "def masked_attention(q, k, v, mask):\n    return course_lib.masked_attention(q, k, v, mask)",
        },
    },
    "06_multi_head": {
        "split_heads": {
            "reshape without the transpose": (
                "def split_heads(x, num_heads):\n"
                "    b, l, d = x.shape\n    return x.reshape(b, num_heads, l, d // num_heads)"
            ),
            "interleaved features": (
                "def split_heads(x, num_heads):\n"
                "    b, l, d = x.shape\n    return x.reshape(b, l, d // num_heads, num_heads).transpose(0, 3, 1, 2)"
            ),
            "heads after the tokens": (
                "def split_heads(x, num_heads):\n"
                "    b, l, d = x.shape\n    return x.reshape(b, l, num_heads, d // num_heads)"
            ),
            "calls the reference": "def split_heads(x, num_heads):\n    return course_lib.split_heads(x, num_heads)",
        },
        "merge_heads": {
            "reshape without the transpose": (
                "def merge_heads(x):\n    b, h, l, s = x.shape\n    return x.reshape(b, l, h * s)"
            ),
            "interleaved features": (
                "def merge_heads(x):\n    b, h, l, s = x.shape\n    return x.transpose(0, 2, 3, 1).reshape(b, l, h * s)"
            ),
            "keeps only the first head": "def merge_heads(x):\n    return x[:, 0]",
            "calls the reference": "def merge_heads(x):\n    return course_lib.merge_heads(x)",
        },
        "multi_head_attention": {
            # Right for a (B, L_q, L_k) mask, the only rank the tests once used (issue 20).
            "head axis always inserted at position 1": (
                "def multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, num_heads, mask=None):\n"
                "    q, k, v = (split_heads(x @ w, num_heads) for x, w in ((x_q, w_q), (x_kv, w_k), (x_kv, w_v)))\n"
                "    if mask is not None:\n        mask = np.asarray(mask)[:, None]\n"
                "    return merge_heads(attention(q, k, v, mask)) @ w_o"
            ),
            "missing output projection": (
                "def multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, num_heads, mask=None):\n"
                "    q, k, v = (split_heads(x @ w, num_heads) for x, w in ((x_q, w_q), (x_kv, w_k), (x_kv, w_v)))\n"
                "    if mask is not None and np.ndim(mask) >= 3:\n        mask = np.expand_dims(mask, -3)\n"
                "    return merge_heads(attention(q, k, v, mask))"
            ),
            "one head": (
                "def multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, num_heads, mask=None):\n"
                "    return attention(x_q @ w_q, x_kv @ w_k, x_kv @ w_v, mask) @ w_o"
            ),
            "keys and values from the queries' input": (
                "def multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, num_heads, mask=None):\n"
                "    q, k, v = (split_heads(x_q @ w, num_heads) for w in (w_q, w_k, w_v))\n"
                "    if mask is not None and np.ndim(mask) >= 3:\n        mask = np.expand_dims(mask, -3)\n"
                "    return merge_heads(attention(q, k, v, mask)) @ w_o"
            ),
            "scales by the model size": (
                "def multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, num_heads, mask=None):\n"
                "    q, k, v = (split_heads(x @ w, num_heads) for x, w in ((x_q, w_q), (x_kv, w_k), (x_kv, w_v)))\n"
                "    if mask is not None and np.ndim(mask) >= 3:\n        mask = np.expand_dims(mask, -3)\n"
                "    q = q * np.sqrt(q.shape[-1] / w_q.shape[0])  # net effect: scores / sqrt(D)\n"
                "    return merge_heads(attention(q, k, v, mask)) @ w_o"
            ),
            "calls the reference": (
                "def multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, num_heads, mask=None):\n"
                "    return course_lib.multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, num_heads, mask)"
            ),
        },
    },
    "07_positional": {
        "sinusoidal_positional_encoding": {
            "sin and cos swapped": (
                "def sinusoidal_positional_encoding(max_len, d_model):\n"
                "    a = np.arange(max_len)[:, None] * 10000.0 ** (-np.arange(0, d_model, 2) / d_model)\n"
                "    pe = np.zeros((max_len, d_model))\n    pe[:, 0::2], pe[:, 1::2] = np.cos(a), np.sin(a)\n    return pe"
            ),
            "halves concatenated": (
                "def sinusoidal_positional_encoding(max_len, d_model):\n"
                "    a = np.arange(max_len)[:, None] * 10000.0 ** (-np.arange(0, d_model, 2) / d_model)\n"
                "    return np.concatenate([np.sin(a), np.cos(a)], axis=-1)"
            ),
            "exponent i instead of 2i": (
                "def sinusoidal_positional_encoding(max_len, d_model):\n"
                "    a = np.arange(max_len)[:, None] * 10000.0 ** (-np.arange(d_model // 2) / d_model)\n"
                "    pe = np.zeros((max_len, d_model))\n    pe[:, 0::2], pe[:, 1::2] = np.sin(a), np.cos(a)\n    return pe"
            ),
            "positions start at 1": (
                "def sinusoidal_positional_encoding(max_len, d_model):\n"
                "    a = np.arange(1, max_len + 1)[:, None] * 10000.0 ** (-np.arange(0, d_model, 2) / d_model)\n"
                "    pe = np.zeros((max_len, d_model))\n    pe[:, 0::2], pe[:, 1::2] = np.sin(a), np.cos(a)\n    return pe"
            ),
            "calls the reference": (
                "def sinusoidal_positional_encoding(max_len, d_model):\n"
                "    return course_lib.sinusoidal_positional_encoding(max_len, d_model)"
            ),
        },
        "shift_matrix": {
            "rotates backwards": (
                "def shift_matrix(offset, d_model):\n    m = np.zeros((d_model, d_model))\n"
                "    for i in range(d_model // 2):\n        t = offset * 10000.0 ** (-2 * i / d_model)\n"
                "        m[2*i:2*i+2, 2*i:2*i+2] = [[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]\n    return m"
            ),
            "same angle for every pair": (
                "def shift_matrix(offset, d_model):\n    m = np.zeros((d_model, d_model))\n"
                "    for i in range(d_model // 2):\n        t = offset\n"
                "        m[2*i:2*i+2, 2*i:2*i+2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]\n    return m"
            ),
            "the identity": "def shift_matrix(offset, d_model):\n    return np.eye(d_model)",
            "calls the reference": "def shift_matrix(offset, d_model):\n    return course_lib.shift_matrix(offset, d_model)",
        },
        "apply_rope": {
            "rotates halves instead of pairs": (
                "def apply_rope(x, positions=None):\n    x = np.asarray(x, dtype=float)\n    l, d = x.shape[-2:]\n"
                "    p = np.arange(l) if positions is None else np.asarray(positions)\n"
                "    a = p[:, None] * 10000.0 ** (-np.arange(0, d, 2) / d)\n"
                "    x1, x2 = x[..., : d // 2], x[..., d // 2 :]\n"
                "    return np.concatenate([x1 * np.cos(a) - x2 * np.sin(a), x1 * np.sin(a) + x2 * np.cos(a)], -1)"
            ),
            "rotates the wrong way": (
                "def apply_rope(x, positions=None):\n    x = np.asarray(x, dtype=float)\n    l, d = x.shape[-2:]\n"
                "    p = np.arange(l) if positions is None else np.asarray(positions)\n"
                "    a = -p[:, None] * 10000.0 ** (-np.arange(0, d, 2) / d)\n    out = np.empty_like(x)\n"
                "    out[..., 0::2] = x[..., 0::2] * np.cos(a) - x[..., 1::2] * np.sin(a)\n"
                "    out[..., 1::2] = x[..., 0::2] * np.sin(a) + x[..., 1::2] * np.cos(a)\n    return out"
            ),
            "ignores the positions argument": (
                "def apply_rope(x, positions=None):\n    x = np.asarray(x, dtype=float)\n    l, d = x.shape[-2:]\n"
                "    a = np.arange(l)[:, None] * 10000.0 ** (-np.arange(0, d, 2) / d)\n    out = np.empty_like(x)\n"
                "    out[..., 0::2] = x[..., 0::2] * np.cos(a) - x[..., 1::2] * np.sin(a)\n"
                "    out[..., 1::2] = x[..., 0::2] * np.sin(a) + x[..., 1::2] * np.cos(a)\n    return out"
            ),
            "calls the reference": "def apply_rope(x, positions=None):\n    return course_lib.apply_rope(x, positions)",
        },
    },
    "08_transformer": {
        "layer_norm": {
            "unbiased variance": (
                "def layer_norm(x, gamma, beta, eps=1e-5):\n"
                "    m = x.mean(-1, keepdims=True)\n"
                "    return gamma * (x - m) / np.sqrt(x.var(-1, ddof=1, keepdims=True) + eps) + beta"
            ),
            "normalises over the wrong axis": (
                "def layer_norm(x, gamma, beta, eps=1e-5):\n"
                "    m = x.mean(0, keepdims=True)\n"
                "    return gamma * (x - m) / np.sqrt(x.var(0, keepdims=True) + eps) + beta"
            ),
            "eps outside the square root": (
                "def layer_norm(x, gamma, beta, eps=1e-5):\n"
                "    m = x.mean(-1, keepdims=True)\n"
                "    return gamma * (x - m) / (x.std(-1, keepdims=True) + eps) + beta"
            ),
            "forgets gamma and beta": (
                "def layer_norm(x, gamma, beta, eps=1e-5):\n"
                "    m = x.mean(-1, keepdims=True)\n"
                "    return (x - m) / np.sqrt(x.var(-1, keepdims=True) + eps)"
            ),
            "calls the reference": "def layer_norm(x, gamma, beta, eps=1e-5):\n    return course_lib.layer_norm(x, gamma, beta, eps)",
        },
        "feed_forward": {
            "missing ReLU": "def feed_forward(x, w1, b1, w2, b2):\n    return (x @ w1 + b1) @ w2 + b2",
            "ReLU after both layers": (
                "def feed_forward(x, w1, b1, w2, b2):\n    return np.maximum(np.maximum(x @ w1 + b1, 0) @ w2 + b2, 0)"
            ),
            "ReLU before the bias": "def feed_forward(x, w1, b1, w2, b2):\n    return (np.maximum(x @ w1, 0) + b1) @ w2 + b2",
            "calls the reference": "def feed_forward(x, w1, b1, w2, b2):\n    return course_lib.feed_forward(x, w1, b1, w2, b2)",
        },
        "decoder_self_mask": {
            "causal only": (
                "def decoder_self_mask(tgt_ids, pad_id):\n"
                "    n = np.shape(tgt_ids)[-1]\n"
                "    return np.broadcast_to(np.tril(np.ones((n, n), bool)), (len(tgt_ids), n, n))"
            ),
            "padding only": (
                "def decoder_self_mask(tgt_ids, pad_id):\n"
                "    n = np.shape(tgt_ids)[-1]\n"
                "    return np.broadcast_to((np.asarray(tgt_ids) != pad_id)[:, None, :], (len(tgt_ids), n, n))"
            ),
            "masks padded queries instead of keys": (
                "def decoder_self_mask(tgt_ids, pad_id):\n"
                "    n = np.shape(tgt_ids)[-1]\n"
                "    return (np.asarray(tgt_ids) != pad_id)[:, :, None] & np.tril(np.ones((n, n), bool))"
            ),
            "inverted causal part": (
                "def decoder_self_mask(tgt_ids, pad_id):\n"
                "    n = np.shape(tgt_ids)[-1]\n"
                "    return (np.asarray(tgt_ids) != pad_id)[:, None, :] & np.triu(np.ones((n, n), bool))"
            ),
            "calls the reference": "def decoder_self_mask(tgt_ids, pad_id):\n    return course_lib.decoder_self_mask(tgt_ids, pad_id)",
        },
        "greedy_decode": {
            # The padding of shorter sources attended to: right for the unpadded rows only (issue 20).
            "ignores the source padding mask": GREEDY_HEAD + (
                "            logits = model.decode(out, memory, torch.ones(out.shape[1], out.shape[1]).tril().bool(), None)\n"
                "            out = torch.cat([out, logits[:, -1].argmax(-1)[:, None]], 1)\n"
                "        return out[:, 1:]"
            ),
            "decodes without the causal mask": GREEDY_HEAD + (
                "            logits = model.decode(out, memory, None, src_mask)\n"
                "            out = torch.cat([out, logits[:, -1].argmax(-1)[:, None]], 1)\n"
                "        return out[:, 1:]"
            ),
            "reads the first position": GREEDY_HEAD + (
                "            logits = model.decode(out, memory, causal, src_mask)\n"
                "            out = torch.cat([out, logits[:, 0].argmax(-1)[:, None]], 1)\n"
                "        return out[:, 1:]"
            ),
            "keeps the bos token": GREEDY_HEAD + (
                "            logits = model.decode(out, memory, causal, src_mask)\n"
                "            out = torch.cat([out, logits[:, -1].argmax(-1)[:, None]], 1)\n"
                "        return out"
            ),
            "generates one token too many": GREEDY_HEAD + (
                "            logits = model.decode(out, memory, causal, src_mask)\n"
                "            out = torch.cat([out, logits[:, -1].argmax(-1)[:, None]], 1)\n"
                "        logits = model.decode(out, memory, torch.ones(n + 1, n + 1, dtype=torch.bool).tril(), src_mask)\n"
                "        return torch.cat([out, logits[:, -1].argmax(-1)[:, None]], 1)[:, 1:]"
            ),
            "calls the reference": (
                "def greedy_decode(model, src_ids, bos_id, eos_id, max_len):\n"
                "    return course_lib.greedy_decode(model, src_ids, bos_id, eos_id, max_len)"
            ),
        },
    },
    "09_training": {
        "warmup_inverse_sqrt_lr": {
            "missing d_model factor": (
                "def warmup_inverse_sqrt_lr(step, d_model, warmup_steps):\n"
                "    return min(step**-0.5, step * warmup_steps**-1.5)"
            ),
            "max for min": (
                "def warmup_inverse_sqrt_lr(step, d_model, warmup_steps):\n"
                "    return d_model**-0.5 * max(step**-0.5, step * warmup_steps**-1.5)"
            ),
            "warm-up exponent -0.5 instead of -1.5": (
                "def warmup_inverse_sqrt_lr(step, d_model, warmup_steps):\n"
                "    return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-0.5)"
            ),
            "steps counted from 0 (off by one)": (
                "def warmup_inverse_sqrt_lr(step, d_model, warmup_steps):\n"
                "    step = step + 1\n"
                "    return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)"
            ),
            "multiplies by sqrt(d_model)": (
                "def warmup_inverse_sqrt_lr(step, d_model, warmup_steps):\n"
                "    return d_model**0.5 * min(step**-0.5, step * warmup_steps**-1.5)"
            ),
            "warms up forever": (
                "def warmup_inverse_sqrt_lr(step, d_model, warmup_steps):\n"
                "    return d_model**-0.5 * step * warmup_steps**-1.5"
            ),
            "calls the reference": (
                "def warmup_inverse_sqrt_lr(step, d_model, warmup_steps):\n"
                "    return course_lib.warmup_inverse_sqrt_lr(step, d_model, warmup_steps)"
            ),
        },
        "label_smoothed_targets": {
            "smoothing spread over C-1 classes": (
                "def label_smoothed_targets(targets, num_classes, smoothing):\n"
                "    one_hot = np.eye(num_classes)[targets]\n"
                "    return (1 - smoothing) * one_hot + (1 - one_hot) * smoothing / (num_classes - 1)"
            ),
            "true class given exactly 1 - smoothing": (
                "def label_smoothed_targets(targets, num_classes, smoothing):\n"
                "    out = np.full((len(targets), num_classes), smoothing / num_classes)\n"
                "    out[np.arange(len(targets)), targets] = 1 - smoothing\n"
                "    return out"
            ),
            "rows do not sum to 1 (smoothing added, never taken away)": (
                "def label_smoothed_targets(targets, num_classes, smoothing):\n"
                "    return np.eye(num_classes)[targets] + smoothing / num_classes"
            ),
            "transposed (C, N)": (
                "def label_smoothed_targets(targets, num_classes, smoothing):\n"
                "    return (1 - smoothing) * np.eye(num_classes)[:, targets] + smoothing / num_classes"
            ),
            "one-hot, smoothing ignored": (
                "def label_smoothed_targets(targets, num_classes, smoothing):\n"
                "    return np.eye(num_classes)[targets]"
            ),
            "calls the reference": (
                "def label_smoothed_targets(targets, num_classes, smoothing):\n"
                "    return course_lib.label_smoothed_targets(targets, num_classes, smoothing)"
            ),
        },
        "kv_cache_step": {
            # First: test_nbgrader's round trip submits it, so it must be a clean numeric mistake.
            "scales by sqrt(d_model)": KV_APPEND + (
                "    w = row_softmax((k_cache @ q[..., None])[..., 0] / np.sqrt(np.shape(x_new)[-1]))\n"
                "    return (w[..., None, :] @ v_cache)[..., 0, :], k_cache, v_cache"
            ),
            "missing scale": KV_APPEND + (
                "    w = row_softmax((k_cache @ q[..., None])[..., 0])\n"
                "    return (w[..., None, :] @ v_cache)[..., 0, :], k_cache, v_cache"
            ),
            "attends before appending (the token cannot see itself)": ROW_SOFTMAX + (
                "def kv_cache_step(x_new, k_cache, v_cache, w_q, w_k, w_v):\n"
                "    q = x_new @ w_q\n"
                "    w = row_softmax((k_cache @ q[..., None])[..., 0] / np.sqrt(q.shape[-1]))\n"
                "    out = (w[..., None, :] @ v_cache)[..., 0, :]\n"
                "    k_cache = np.concatenate([k_cache, (x_new @ w_k)[..., None, :]], axis=-2)\n"
                "    v_cache = np.concatenate([v_cache, (x_new @ w_v)[..., None, :]], axis=-2)\n"
                "    return out, k_cache, v_cache"
            ),
            "concatenates on axis 0 (breaks with batch axes)": ROW_SOFTMAX + (
                "def kv_cache_step(x_new, k_cache, v_cache, w_q, w_k, w_v):\n"
                "    q = x_new @ w_q\n"
                "    k_cache = np.concatenate([k_cache, [x_new @ w_k]], axis=0)\n"
                "    v_cache = np.concatenate([v_cache, [x_new @ w_v]], axis=0)\n"
                "    w = row_softmax((k_cache @ q[..., None])[..., 0] / np.sqrt(q.shape[-1]))\n"
                "    return (w[..., None, :] @ v_cache)[..., 0, :], k_cache, v_cache"
            ),
            "softmax over the wrong axis (a size-1 axis: every weight is 1)": KV_APPEND + (
                "    w = row_softmax(k_cache @ q[..., None] / np.sqrt(q.shape[-1]))  # (..., t+1, 1)\n"
                "    return (w * v_cache).sum(axis=-2), k_cache, v_cache"
            ),
            "softmax over the first axis (fine without a batch)": KV_APPEND + (
                "    s = (k_cache @ q[..., None])[..., 0] / np.sqrt(q.shape[-1])\n"
                "    e = np.exp(s - s.max(axis=0, keepdims=True))\n"
                "    w = e / e.sum(axis=0, keepdims=True)\n"
                "    return (w[..., None, :] @ v_cache)[..., 0, :], k_cache, v_cache"
            ),
            "returns the old caches": ROW_SOFTMAX + (
                "def kv_cache_step(x_new, k_cache, v_cache, w_q, w_k, w_v):\n"
                "    q = x_new @ w_q\n"
                "    k = np.concatenate([k_cache, (x_new @ w_k)[..., None, :]], axis=-2)\n"
                "    v = np.concatenate([v_cache, (x_new @ w_v)[..., None, :]], axis=-2)\n"
                "    w = row_softmax((k @ q[..., None])[..., 0] / np.sqrt(q.shape[-1]))\n"
                "    return (w[..., None, :] @ v)[..., 0, :], k_cache, v_cache"
            ),
            "naive softmax, overflows": KV_APPEND + (
                "    e = np.exp((k_cache @ q[..., None])[..., 0] / np.sqrt(q.shape[-1]))\n"
                "    w = e / e.sum(axis=-1, keepdims=True)\n"
                "    return (w[..., None, :] @ v_cache)[..., 0, :], k_cache, v_cache"
            ),
            "calls the reference": (
                "def kv_cache_step(x_new, k_cache, v_cache, w_q, w_k, w_v):\n"
                "    return course_lib.kv_cache_step(x_new, k_cache, v_cache, w_q, w_k, w_v)"
            ),
        },
    },
    "10_pretrained": {
        "additive_attention_mask": {
            "polarity reversed (-inf on the real tokens)": (
                "def additive_attention_mask(attention_mask):\n"
                "    return np.where(np.asarray(attention_mask) == 1, -np.inf, 0.0)[:, None, None, :]"
            ),
            "masks the queries' axis (B, 1, L, 1)": (
                "def additive_attention_mask(attention_mask):\n"
                "    return np.where(np.asarray(attention_mask) == 1, 0.0, -np.inf)[:, None, :, None]"
            ),
            "a finite penalty of -1 (padding keeps some weight)": (
                "def additive_attention_mask(attention_mask):\n"
                "    return (np.asarray(attention_mask, dtype=float) - 1.0)[:, None, None, :]"
            ),
            "multiplicative 0/1 mask": (
                "def additive_attention_mask(attention_mask):\n"
                "    return np.asarray(attention_mask, dtype=float)[:, None, None, :]"
            ),
            "exercise 5's shape (B, 1, L), no axis for the heads": (
                "def additive_attention_mask(attention_mask):\n"
                "    return np.where(np.asarray(attention_mask) == 1, 0.0, -np.inf)[:, None, :]"
            ),
            "calls the reference": (
                "def additive_attention_mask(attention_mask):\n"
                "    return course_lib.additive_attention_mask(attention_mask)"
            ),
        },
        "mean_pool": {
            "plain mean over L (pools the padding)": (
                "def mean_pool(hidden, attention_mask):\n"
                "    return np.asarray(hidden).mean(axis=1)"
            ),
            "masked sum divided by L": (
                "def mean_pool(hidden, attention_mask):\n"
                "    m = np.asarray(attention_mask, dtype=float)[:, :, None]\n"
                "    return (hidden * m).sum(axis=1) / np.shape(hidden)[1]"
            ),
            "masked sum divided by the batch's total number of real tokens": (
                "def mean_pool(hidden, attention_mask):\n"
                "    m = np.asarray(attention_mask, dtype=float)[:, :, None]\n"
                "    return (hidden * m).sum(axis=1) / m.sum()"
            ),
            "pools over the batch axis": (
                "def mean_pool(hidden, attention_mask):\n"
                "    m = np.asarray(attention_mask, dtype=float)[:, :, None]\n"
                "    return (hidden * m).sum(axis=0) / m.sum(axis=0)"
            ),
            "pools over the features axis": (
                "def mean_pool(hidden, attention_mask):\n"
                "    m = np.asarray(attention_mask, dtype=float)[:, :, None]\n"
                "    return (hidden * m).sum(axis=-1) / m.sum(axis=-1)"
            ),
            "the [CLS] vector": (
                "def mean_pool(hidden, attention_mask):\n"
                "    return np.asarray(hidden)[:, 0]"
            ),
            "calls the reference": (
                "def mean_pool(hidden, attention_mask):\n"
                "    return course_lib.mean_pool(hidden, attention_mask)"
            ),
        },
        "best_matching_head": {
            # First: test_nbgrader's round trip submits it, so it must be a clean mistake.
            "(head, layer) order": (
                "def best_matching_head(attentions, pattern):\n"
                "    scores = (attentions * pattern).sum(axis=-1)[..., pattern.sum(axis=-1) > 0].mean(axis=-1)\n"
                "    layer, head = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(head), int(layer)"
            ),
            "argmin": (
                "def best_matching_head(attentions, pattern):\n"
                "    scores = (attentions * pattern).sum(axis=-1)[..., pattern.sum(axis=-1) > 0].mean(axis=-1)\n"
                "    layer, head = np.unravel_index(np.argmin(scores), scores.shape)\n"
                "    return int(layer), int(head)"
            ),
            "flat argmax, not unravelled": (
                "def best_matching_head(attentions, pattern):\n"
                "    scores = (attentions * pattern).sum(axis=-1)[..., pattern.sum(axis=-1) > 0].mean(axis=-1)\n"
                "    return np.argmax(scores)"
            ),
            "unravelled with the shape (heads, layers)": (
                "def best_matching_head(attentions, pattern):\n"
                "    scores = (attentions * pattern).sum(axis=-1)[..., pattern.sum(axis=-1) > 0].mean(axis=-1)\n"
                "    layer, head = np.unravel_index(np.argmax(scores), scores.shape[::-1])\n"
                "    return int(layer), int(head)"
            ),
            "mass summed over the queries' axis instead of the keys'": (
                "def best_matching_head(attentions, pattern):\n"
                "    scores = (attentions * pattern).sum(axis=-2)[..., pattern.sum(axis=-1) > 0].mean(axis=-1)\n"
                "    layer, head = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(layer), int(head)"
            ),
            "pattern transposed (queries and keys swapped)": (
                "def best_matching_head(attentions, pattern):\n"
                "    scores = (attentions * pattern.T).sum(axis=-1)[..., pattern.sum(axis=0) > 0].mean(axis=-1)\n"
                "    layer, head = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(layer), int(head)"
            ),
            "best single query (max instead of the mean over queries)": (
                "def best_matching_head(attentions, pattern):\n"
                "    scores = (attentions * pattern).sum(axis=-1).max(axis=-1)\n"
                "    layer, head = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(layer), int(head)"
            ),
            "calls the reference": (
                "def best_matching_head(attentions, pattern):\n"
                "    return course_lib.best_matching_head(attentions, pattern)"
            ),
        },
    },
    "11_classification": {
        "attention_pool": {
            "pools over the padding (mask ignored)": ROW_SOFTMAX + POOL_SCORES + (
                "    w = row_softmax(s)\n"
                "    return (w[:, :, None] * h).sum(axis=1), w"
            ),
            "softmax over the batch axis": POOL_SCORES + (
                "    s = np.where(mask, s, -np.inf)\n"
                "    e = np.where(mask, np.exp(s - s.max(axis=0, keepdims=True)), 0.0)\n"
                "    w = e / e.sum(axis=0, keepdims=True)\n"
                "    return (w[:, :, None] * h).sum(axis=1), w"
            ),
            "missing scale": (
                "def attention_pool(h, query, mask=None):\n"
                "    h = np.asarray(h, dtype=float)\n"
                "    s = np.where(mask, h @ query, -np.inf) if mask is not None else h @ query\n"
                "    e = np.exp(s - s.max(axis=-1, keepdims=True))\n"
                "    w = e / e.sum(axis=-1, keepdims=True)\n"
                "    return (w[:, :, None] * h).sum(axis=1), w"
            ),
            "scaled by D instead of sqrt(D)": (
                "def attention_pool(h, query, mask=None):\n"
                "    h = np.asarray(h, dtype=float)\n"
                "    s = h @ query / h.shape[-1]\n"
                "    s = np.where(mask, s, -np.inf) if mask is not None else s\n"
                "    e = np.exp(s - s.max(axis=-1, keepdims=True))\n"
                "    w = e / e.sum(axis=-1, keepdims=True)\n"
                "    return (w[:, :, None] * h).sum(axis=1), w"
            ),
            "naive softmax, overflows": POOL_SCORES + (
                "    e = np.exp(s) * mask\n"
                "    w = e / e.sum(axis=-1, keepdims=True)\n"
                "    return (w[:, :, None] * h).sum(axis=1), w"
            ),
            "nan for a row without real tokens": POOL_SCORES + (
                "    s = np.where(mask, s, -np.inf)\n"
                "    e = np.exp(s - s.max(axis=-1, keepdims=True))\n"
                "    w = e / e.sum(axis=-1, keepdims=True)\n"
                "    return (w[:, :, None] * h).sum(axis=1), w"
            ),
            "a finite penalty of -1e9 (a row without real tokens gets uniform weights)": POOL_SCORES + (
                "    s = np.where(mask, s, -1e9)\n"
                "    e = np.exp(s - s.max(axis=-1, keepdims=True))\n"
                "    w = e / e.sum(axis=-1, keepdims=True)\n"
                "    return (w[:, :, None] * h).sum(axis=1), w"
            ),
            "mask applied after np.exp (a large padding score overflows: inf * 0 is nan)": POOL_SCORES + (
                "    top = np.where(mask, s, -np.inf).max(axis=-1, keepdims=True)\n"
                "    top = np.where(np.isfinite(top), top, 0.0)\n"
                "    e = mask * np.exp(s - top)\n"
                "    t = e.sum(axis=-1, keepdims=True)\n"
                "    w = np.divide(e, t, out=np.zeros_like(e), where=t > 0)\n"
                "    return (w[:, :, None] * h).sum(axis=1), w"
            ),
            "(weights, pooled) order": POOL_SCORES + (
                "    s = np.where(mask, s, -np.inf)\n"
                "    top = np.max(s, axis=-1, keepdims=True)\n"
                "    e = np.where(mask, np.exp(s - np.where(np.isfinite(top), top, 0)), 0.0)\n"
                "    t = e.sum(axis=-1, keepdims=True)\n"
                "    w = np.divide(e, t, out=np.zeros_like(e), where=t > 0)\n"
                "    return w, (w[:, :, None] * h).sum(axis=1)"
            ),
            "calls the reference": (
                "def attention_pool(h, query, mask=None):\n"
                "    return course_lib.attention_pool(h, query, mask)"
            ),
        },
        "accuracy": {
            "argmax over the examples (axis 0)": (
                "def accuracy(logits, labels):\n"
                "    return float(np.mean(np.argmax(logits, axis=0) == labels))"
            ),
            "argmax over axis 1 (breaks with batch axes)": (
                "def accuracy(logits, labels):\n"
                "    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))"
            ),
            "a count, not a fraction": (
                "def accuracy(logits, labels):\n"
                "    return float(np.sum(np.argmax(logits, axis=-1) == np.asarray(labels)))"
            ),
            "two classes only (logit 1 > logit 0)": (
                "def accuracy(logits, labels):\n"
                "    logits = np.asarray(logits)\n"
                "    return float(np.mean((logits[..., 1] > logits[..., 0]) == np.asarray(labels)))"
            ),
            "argmin": (
                "def accuracy(logits, labels):\n"
                "    return float(np.mean(np.argmin(logits, axis=-1) == np.asarray(labels)))"
            ),
            "mean probability of the label": (
                "def accuracy(logits, labels):\n"
                "    p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)\n"
                "    return float(np.mean(np.take_along_axis(p, np.asarray(labels)[..., None], axis=-1)))"
            ),
            "calls the reference": (
                "def accuracy(logits, labels):\n"
                "    return course_lib.accuracy(logits, labels)"
            ),
        },
        "train_step": {
            # First: test_nbgrader's round trip submits it, so it must be a clean mistake.
            "no zero_grad (gradients pile up)": (
                "def train_step(model, optimizer, tokens, mask, labels):\n"
                "    model.train()\n"
                "    loss = F.cross_entropy(model(tokens, mask), labels)\n"
                "    loss.backward()\n"
                "    optimizer.step()\n"
                "    return loss.item()"
            ),
            "no optimizer.step": (
                "def train_step(model, optimizer, tokens, mask, labels):\n"
                "    model.train()\n"
                "    optimizer.zero_grad()\n"
                "    loss = F.cross_entropy(model(tokens, mask), labels)\n"
                "    loss.backward()\n"
                "    return loss.item()"
            ),
            "zero_grad between backward and step": (
                "def train_step(model, optimizer, tokens, mask, labels):\n"
                "    model.train()\n"
                "    loss = F.cross_entropy(model(tokens, mask), labels)\n"
                "    loss.backward()\n"
                "    optimizer.zero_grad()\n"
                "    optimizer.step()\n"
                "    return loss.item()"
            ),
            "softmax over the batch axis in the loss": (
                "def train_step(model, optimizer, tokens, mask, labels):\n"
                "    model.train()\n"
                "    optimizer.zero_grad()\n"
                "    log_p = torch.log_softmax(model(tokens, mask), dim=0)\n"
                "    loss = -log_p[torch.arange(len(labels)), labels].mean()\n"
                "    loss.backward()\n"
                "    optimizer.step()\n"
                "    return loss.item()"
            ),
            "summed loss instead of the mean": (
                "def train_step(model, optimizer, tokens, mask, labels):\n"
                "    model.train()\n"
                "    optimizer.zero_grad()\n"
                "    loss = F.cross_entropy(model(tokens, mask), labels, reduction='sum')\n"
                "    loss.backward()\n"
                "    optimizer.step()\n"
                "    return loss.item()"
            ),
            "never switches to training mode": (
                "def train_step(model, optimizer, tokens, mask, labels):\n"
                "    optimizer.zero_grad()\n"
                "    loss = F.cross_entropy(model(tokens, mask), labels)\n"
                "    loss.backward()\n"
                "    optimizer.step()\n"
                "    return loss.item()"
            ),
            "evaluation mode (dropout off)": (
                "def train_step(model, optimizer, tokens, mask, labels):\n"
                "    model.eval()\n"
                "    optimizer.zero_grad()\n"
                "    loss = F.cross_entropy(model(tokens, mask), labels)\n"
                "    loss.backward()\n"
                "    optimizer.step()\n"
                "    return loss.item()"
            ),
            "returns the loss tensor": (
                "def train_step(model, optimizer, tokens, mask, labels):\n"
                "    model.train()\n"
                "    optimizer.zero_grad()\n"
                "    loss = F.cross_entropy(model(tokens, mask), labels)\n"
                "    loss.backward()\n"
                "    optimizer.step()\n"
                "    return loss"
            ),
            "calls the reference": (
                "def train_step(model, optimizer, tokens, mask, labels):\n"
                "    return course_lib.train_step(model, optimizer, tokens, mask, labels)"
            ),
        },
    },
    "12_modern_attention": {
        "sliding_window_mask": {
            "off by one (i - j <= window: window + 1 keys)": WINDOW_DISTANCE + "    return (d >= 0) & (d <= window)",
            "inverted (True = blocked)": WINDOW_DISTANCE + "    return ~((d >= 0) & (d < window))",
            "sees the future (|i - j| < window)": WINDOW_DISTANCE + "    return np.abs(d) < window",
            "transposed (the window ahead of the query)": WINDOW_DISTANCE + "    return (d <= 0) & (d > -window)",
            "0/1 integers instead of booleans": WINDOW_DISTANCE + "    return ((d >= 0) & (d < window)).astype(int)",
            "calls the reference": (
                "def sliding_window_mask(n, window):\n"
                "    return course_lib.sliding_window_mask(n, window)"
            ),
        },
        "grouped_query_attention": {
            "heads paired round-robin (h % H_kv)": (
                "def grouped_query_attention(q, k, v, mask=None):\n"
                "    g = q.shape[1] // k.shape[1]\n"
                "    k, v = k.repeat(1, g, 1, 1), v.repeat(1, g, 1, 1)\n"
                "    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n"
                "    if mask is not None:\n"
                "        s = s.masked_fill(~mask, float('-inf'))\n"
                "    return torch.softmax(s, dim=-1) @ v"
            ),
            "no 1/sqrt(d) scale": GQA_GROUPED + (
                "    s = q @ k.transpose(-2, -1)\n"
                "    if mask is not None:\n"
                "        s = s.masked_fill(~mask, float('-inf'))\n"
                "    return torch.softmax(s, dim=-1) @ v"
            ),
            "scaled by d instead of sqrt(d)": GQA_GROUPED + (
                "    s = q @ k.transpose(-2, -1) / q.shape[-1]\n"
                "    if mask is not None:\n"
                "        s = s.masked_fill(~mask, float('-inf'))\n"
                "    return torch.softmax(s, dim=-1) @ v"
            ),
            "mask inverted (True = blocked)": GQA_GROUPED + (
                "    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n"
                "    if mask is not None:\n"
                "        s = s.masked_fill(mask, float('-inf'))\n"
                "    return torch.softmax(s, dim=-1) @ v"
            ),
            "mask ignored": GQA_GROUPED + (
                "    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n"
                "    return torch.softmax(s, dim=-1) @ v"
            ),
            "softmax over the queries' axis": GQA_GROUPED + (
                "    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n"
                "    if mask is not None:\n"
                "        s = s.masked_fill(~mask, float('-inf'))\n"
                "    return torch.softmax(s, dim=-2) @ v"
            ),
            "calls the reference": (
                "def grouped_query_attention(q, k, v, mask=None):\n"
                "    return course_lib.grouped_query_attention(q, k, v, mask)"
            ),
        },
        "top_p_filter": {
            "drops the token that crosses top_p": TOP_P_SORTED + (
                "    drop_sorted = torch.cumsum(probs, dim=-1) > top_p\n"
            ) + TOP_P_SCATTER,
            "cumulative sum of the logits, not of the probabilities": TOP_P_SORTED + (
                "    drop_sorted = torch.cumsum(sorted_logits, dim=-1) - sorted_logits >= top_p\n"
            ) + TOP_P_SCATTER,
            "one token past the crossing one": TOP_P_SORTED + (
                "    before = torch.cumsum(probs, dim=-1) - probs\n"
                "    drop_sorted = torch.zeros_like(before, dtype=torch.bool)\n"
                "    drop_sorted[..., 1:] = before[..., :-1] >= top_p\n"
            ) + TOP_P_SCATTER,
            "sorted ascending (keeps the least likely)": (
                "def top_p_filter(logits, top_p):\n"
                "    sorted_logits, order = torch.sort(logits, dim=-1)\n"
                "    probs = torch.softmax(sorted_logits, dim=-1)\n"
                "    drop_sorted = torch.cumsum(probs, dim=-1) - probs >= top_p\n"
            ) + TOP_P_SCATTER,
            "0 instead of -inf outside the nucleus": TOP_P_SORTED + (
                "    drop_sorted = torch.cumsum(probs, dim=-1) - probs >= top_p\n"
                "    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)\n"
                "    return logits.masked_fill(drop, 0.0)"
            ),
            "returns the renormalised probabilities": TOP_P_SORTED + (
                "    drop_sorted = torch.cumsum(probs, dim=-1) - probs >= top_p\n"
                "    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)\n"
                "    return torch.softmax(logits.masked_fill(drop, float('-inf')), dim=-1)"
            ),
            "calls the reference": (
                "def top_p_filter(logits, top_p):\n"
                "    return course_lib.top_p_filter(logits, top_p)"
            ),
        },
        "rms_norm": {
            # First: test_nbgrader's round trip submits it, so it must be a clean mistake.
            "LayerNorm (subtracts the mean)": (
                "def rms_norm(x, weight, eps=1e-6):\n"
                "    x = x - x.mean(dim=-1, keepdim=True)\n"
                "    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight"
            ),
            "eps outside the square root": (
                "def rms_norm(x, weight, eps=1e-6):\n"
                "    return x / (torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True)) + eps) * weight"
            ),
            "divides by the standard deviation": (
                "def rms_norm(x, weight, eps=1e-6):\n"
                "    return x / torch.sqrt(x.var(dim=-1, unbiased=False, keepdim=True) + eps) * weight"
            ),
            "weight ignored": (
                "def rms_norm(x, weight, eps=1e-6):\n"
                "    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)"
            ),
            "mean over the first axis": (
                "def rms_norm(x, weight, eps=1e-6):\n"
                "    return x / torch.sqrt(x.pow(2).mean(dim=0, keepdim=True) + eps) * weight"
            ),
            "LayerNorm's default eps (1e-5)": (
                "def rms_norm(x, weight, eps=1e-5):\n"
                "    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight"
            ),
            "calls the reference": (
                "def rms_norm(x, weight, eps=1e-6):\n"
                "    return course_lib.rms_norm(x, weight, eps)"
            ),
        },
    },
    "13_huggingface": {
        "context_windows": {
            "stride taken as the step between windows": (
                "def context_windows(num_tokens, room, stride):\n"
                "    windows, first = [], 0\n"
                "    while True:\n"
                "        stop = min(first + room, num_tokens)\n"
                "        windows.append((first, stop))\n"
                "        if stop == num_tokens:\n"
                "            return windows\n"
                "        first += max(stride, 1)"
            ),
            "no overlap": (
                "def context_windows(num_tokens, room, stride):\n"
                "    return [(first, min(first + room, num_tokens)) for first in range(0, num_tokens, room)]"
            ),
            "overlap off by one (stride - 1 tokens)": (
                "def context_windows(num_tokens, room, stride):\n"
                "    windows, first = [], 0\n"
                "    while True:\n"
                "        stop = min(first + room, num_tokens)\n"
                "        windows.append((first, stop))\n"
                "        if stop == num_tokens:\n"
                "            return windows\n"
                "        first = stop - stride + 1"
            ),
            "the last, shorter window dropped": (
                "def context_windows(num_tokens, room, stride):\n"
                "    windows, first = [(0, min(room, num_tokens))], 0\n"
                "    while first + room - stride + room <= num_tokens:\n"
                "        first = first + room - stride\n"
                "        windows.append((first, first + room))\n"
                "    return windows"
            ),
            "one window too many (a window inside the last one)": (
                "def context_windows(num_tokens, room, stride):\n"
                "    windows, first = [], 0\n"
                "    while first < num_tokens:\n"
                "        stop = min(first + room, num_tokens)\n"
                "        windows.append((first, stop))\n"
                "        first = stop - stride if stop - stride > first else stop\n"
                "    return windows"
            ),
            "calls the reference": (
                "def context_windows(num_tokens, room, stride):\n"
                "    return course_lib.context_windows(num_tokens, room, stride)"
            ),
        },
        "no_answer_score": {
            "softmax over the whole window": (
                "def no_answer_score(start_logits, end_logits, context_mask):\n"
                "    a, b = np.asarray(start_logits, dtype=float), np.asarray(end_logits, dtype=float)\n"
                "    p, q = np.exp(a - a.max()), np.exp(b - b.max())\n"
                "    return float(p[0] / p.sum() * q[0] / q.sum())"
            ),
            "[CLS] left out of the softmax": (
                "def no_answer_score(start_logits, end_logits, context_mask):\n"
                "    keep = np.asarray(context_mask, dtype=bool)\n"
                "    a = np.where(keep, np.asarray(start_logits, dtype=float), -np.inf)\n"
                "    b = np.where(keep, np.asarray(end_logits, dtype=float), -np.inf)\n"
                "    p, q = np.exp(a - a.max()), np.exp(b - b.max())\n"
                "    return float(p[0] / p.sum() * q[0] / q.sum())"
            ),
            "sum of the two probabilities": (
                "def no_answer_score(start_logits, end_logits, context_mask):\n"
                "    keep = np.asarray(context_mask, dtype=bool).copy()\n"
                "    keep[0] = True\n"
                "    a = np.where(keep, np.asarray(start_logits, dtype=float), -np.inf)\n"
                "    b = np.where(keep, np.asarray(end_logits, dtype=float), -np.inf)\n"
                "    p, q = np.exp(a - a.max()), np.exp(b - b.max())\n"
                "    return float(p[0] / p.sum() + q[0] / q.sum())"
            ),
            "the logits, not probabilities": (
                "def no_answer_score(start_logits, end_logits, context_mask):\n"
                "    return float(start_logits[0] + end_logits[0])"
            ),
            "the mask inverted": (
                "def no_answer_score(start_logits, end_logits, context_mask):\n"
                "    keep = ~np.asarray(context_mask, dtype=bool)\n"
                "    a = np.where(keep, np.asarray(start_logits, dtype=float), -np.inf)\n"
                "    b = np.where(keep, np.asarray(end_logits, dtype=float), -np.inf)\n"
                "    p, q = np.exp(a - a.max()), np.exp(b - b.max())\n"
                "    return float(p[0] / p.sum() * q[0] / q.sum())"
            ),
            "calls the reference": (
                "def no_answer_score(start_logits, end_logits, context_mask):\n"
                "    return course_lib.no_answer_score(start_logits, end_logits, context_mask)"
            ),
        },
        "best_span": {
            "start and end chosen separately (argmax of each)": SPAN_PROBS + (
                "    s = int(np.argmax(np.where(ok, p, -1)))\n"
                "    e = int(np.argmax(np.where(ok, q, -1)))\n"
                "    return s, e, float(p[s] * q[e])"
            ),
            "end before start allowed": SPAN_PROBS + (
                "    valid = (np.abs(length - 1) < max_answer_len) & ok[:, None] & ok[None, :]\n"
                "    scores = np.where(valid, np.outer(p, q), -1.0)\n"
                "    s, e = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(s), int(e), float(scores[s, e])"
            ),
            "score = sum of logits": SPAN_VALID + (
                "    scores = np.where(valid, a[:, None] + b[None, :], -np.inf)\n"
                "    s, e = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(s), int(e), float(scores[s, e])"
            ),
            "softmax over the allowed tokens only": (
                "def best_span(start_logits, end_logits, allowed, max_answer_len=30):\n"
                "    a, b = np.asarray(start_logits, dtype=float), np.asarray(end_logits, dtype=float)\n"
                "    ok = np.asarray(allowed, dtype=bool)\n"
                "    a, b = np.where(ok, a, -np.inf), np.where(ok, b, -np.inf)\n"
                "    p, q = np.exp(a - a.max()), np.exp(b - b.max())\n"
                "    p, q = p / p.sum(), q / q.sum()\n"
                "    n = len(a)\n"
                "    length = np.arange(n)[None, :] - np.arange(n)[:, None] + 1\n"
                "    valid = (length >= 1) & (length <= max_answer_len) & ok[:, None] & ok[None, :]\n"
                "    scores = np.where(valid, np.outer(p, q), -1.0)\n"
                "    s, e = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(s), int(e), float(scores[s, e])"
            ),
            "allowed ignored": SPAN_PROBS + (
                "    valid = (length >= 1) & (length <= max_answer_len)\n"
                "    scores = np.where(valid, np.outer(p, q), -1.0)\n"
                "    s, e = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(s), int(e), float(scores[s, e])"
            ),
            "off by one (e - s <= max_answer_len)": SPAN_PROBS + (
                "    valid = (length >= 1) & (length <= max_answer_len + 1) & ok[:, None] & ok[None, :]\n"
                "    scores = np.where(valid, np.outer(p, q), -1.0)\n"
                "    s, e = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(s), int(e), float(scores[s, e])"
            ),
            "exclusive end (end + 1)": SPAN_VALID + (
                "    scores = np.where(valid, np.outer(p, q), -1.0)\n"
                "    s, e = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(s), int(e) + 1, float(scores[s, e])"
            ),
            "ties go to the last span": SPAN_VALID + (
                "    scores = np.where(valid, np.outer(p, q), -1.0)\n"
                "    flat = scores.size - 1 - int(np.argmax(scores.ravel()[::-1]))\n"
                "    s, e = divmod(flat, n)\n"
                "    return int(s), int(e), float(scores[s, e])"
            ),
            "no stable softmax (overflows on large logits)": (
                "def best_span(start_logits, end_logits, allowed, max_answer_len=30):\n"
                "    a, b = np.asarray(start_logits, dtype=float), np.asarray(end_logits, dtype=float)\n"
                "    ok = np.asarray(allowed, dtype=bool)\n"
                "    p, q = np.exp(a) / np.exp(a).sum(), np.exp(b) / np.exp(b).sum()\n"
                "    n = len(a)\n"
                "    length = np.arange(n)[None, :] - np.arange(n)[:, None] + 1\n"
                "    valid = (length >= 1) & (length <= max_answer_len) & ok[:, None] & ok[None, :]\n"
                "    scores = np.where(valid, np.outer(p, q), -1.0)\n"
                "    s, e = np.unravel_index(np.argmax(scores), scores.shape)\n"
                "    return int(s), int(e), float(scores[s, e])"
            ),
            "calls the reference": (
                "def best_span(start_logits, end_logits, allowed, max_answer_len=30):\n"
                "    return course_lib.best_span(start_logits, end_logits, allowed, max_answer_len)"
            ),
        },
    },
}


# Correct answers written another way than the model solution: the tests must accept each one.
OTHER_CORRECT_ANSWERS = {
    "03_scores": {
        'attention_scores': {
            'einsum': (
                'def attention_scores(q, k):\n'
                '    return np.einsum("...id,...jd->...ij", q, k)'
            ),
            'float32': (
                'def attention_scores(q, k):\n'
                '    q, k = np.asarray(q, np.float32), np.asarray(k, np.float32)\n'
                '    return q @ np.swapaxes(k, -1, -2)'
            ),
            'matmul with mT': (
                'def attention_scores(q, k):\n'
                '    return np.matmul(q, np.asarray(k).mT)'
            ),
        },
        'scaled_attention_scores': {
            'einsum, no helper': (
                'def scaled_attention_scores(q, k):\n'
                '    return np.einsum("...id,...jd->...ij", q, k) / np.sqrt(np.shape(k)[-1])'
            ),
            'float32': (
                'def scaled_attention_scores(q, k):\n'
                '    q, k = np.asarray(q, np.float32), np.asarray(k, np.float32)\n'
                '    return q @ np.swapaxes(k, -1, -2) / np.float32(np.sqrt(q.shape[-1]))'
            ),
            'queries scaled first': (
                'def scaled_attention_scores(q, k):\n'
                '    return attention_scores(q / np.sqrt(np.shape(q)[-1]), k)'
            ),
        },
        'self_attention_scores': {
            'einsum, no helper': (
                'def self_attention_scores(x, w_q, w_k):\n'
                '    q, k = np.einsum("...nd,de->...ne", x, w_q), np.einsum("...nd,de->...ne", x, w_k)\n'
                '    return np.einsum("...id,...jd->...ij", q, k) / np.sqrt(np.shape(w_k)[-1])'
            ),
            'float32': (
                'def self_attention_scores(x, w_q, w_k):\n'
                '    x = np.asarray(x, np.float32)\n'
                '    q, k = x @ np.asarray(w_q, np.float32), x @ np.asarray(w_k, np.float32)\n'
                '    return q @ np.swapaxes(k, -1, -2) / np.float32(np.sqrt(q.shape[-1]))'
            ),
            'from the raw scores': (
                'def self_attention_scores(x, w_q, w_k):\n'
                '    return attention_scores(x @ w_q, x @ w_k) / np.sqrt(np.shape(w_q)[1])'
            ),
        },
    },
    "04_softmax": {
        'scaled_dot_product_attention': {
            'float32': (
                'def scaled_dot_product_attention(q, k, v, mask=None):\n'
                '    q, k, v = (np.asarray(a, dtype=np.float32) for a in (q, k, v))\n'
                '    s = q @ np.swapaxes(k, -1, -2) / np.float32(np.sqrt(q.shape[-1]))\n'
                '    if mask is not None:\n'
                '        s = np.where(mask, s, np.float32(-np.inf))\n'
                '    e = np.exp(s - s.max(axis=-1, keepdims=True))\n'
                '    w = e / e.sum(axis=-1, keepdims=True)\n'
                '    return w @ v, w'
            ),
            'einsum': (
                'def scaled_dot_product_attention(q, k, v, mask=None):\n'
                "    s = np.einsum('...qd,...kd->...qk', q, k) / np.sqrt(q.shape[-1])\n"
                '    if mask is not None:\n'
                '        s = np.where(mask, s, -np.inf)\n'
                '    w = softmax(s)\n'
                "    return np.einsum('...qk,...kd->...qd', w, v), w"
            ),
        },
    },
    "12_modern_attention": {
        "sliding_window_mask": {
            "tril & triu": (
                "def sliding_window_mask(n, window):\n"
                "    ones = np.ones((n, n), dtype=bool)\n"
                "    return np.tril(ones) & np.triu(ones, k=1 - window)"
            ),
            "a torch bool tensor": (
                "def sliding_window_mask(n, window):\n"
                "    ones = torch.ones(n, n, dtype=torch.bool)\n"
                "    return ones.tril() & ones.triu(1 - window)"
            ),
        },
        "grouped_query_attention": {
            "expand and reshape": (
                "def grouped_query_attention(q, k, v, mask=None):\n"
                "    B, H, T, d = q.shape\n"
                "    H_kv, S = k.shape[1], k.shape[2]\n"
                "    k = k[:, :, None].expand(B, H_kv, H // H_kv, S, d).reshape(B, H, S, d)\n"
                "    v = v[:, :, None].expand(B, H_kv, H // H_kv, S, d).reshape(B, H, S, d)\n"
                "    s = q @ k.transpose(-2, -1) * d**-0.5\n"
                "    if mask is not None:\n"
                "        s = torch.where(mask, s, torch.finfo(s.dtype).min)\n"
                "    return torch.softmax(s, dim=-1) @ v"
            ),
            "einsum over the groups, no copies": (
                "def grouped_query_attention(q, k, v, mask=None):\n"
                "    B, H, T, d = q.shape\n"
                "    H_kv, S = k.shape[1], k.shape[2]\n"
                "    qg = q.reshape(B, H_kv, H // H_kv, T, d)\n"
                "    s = torch.einsum('bkgtd,bksd->bkgts', qg, k) / math.sqrt(d)\n"
                "    if mask is not None:\n"
                "        m = torch.broadcast_to(mask, (B, H, T, S)).reshape(B, H_kv, H // H_kv, T, S)\n"
                "        s = s.masked_fill(~m, float('-inf'))\n"
                "    out = torch.einsum('bkgts,bksd->bkgtd', torch.softmax(s, dim=-1), v)\n"
                "    return out.reshape(B, H, T, d)"
            ),
            "in float64, a loop over the heads": (
                "def grouped_query_attention(q, k, v, mask=None):\n"
                "    H, H_kv = q.shape[1], k.shape[1]\n"
                "    heads = []\n"
                "    for h in range(H):\n"
                "        kh, vh = k[:, h // (H // H_kv)].double(), v[:, h // (H // H_kv)].double()\n"
                "        s = q[:, h].double() @ kh.transpose(-2, -1) / q.shape[-1] ** 0.5\n"
                "        if mask is not None:\n"
                "            s = s.masked_fill(~torch.broadcast_to(mask, (q.shape[0], H) + s.shape[-2:])[:, h], float('-inf'))\n"
                "        heads.append(torch.softmax(s, dim=-1) @ vh)\n"
                "    return torch.stack(heads, dim=1)"
            ),
        },
        "top_p_filter": {
            "keeps every token tied with the last one, as course_lib does": (
                "def top_p_filter(logits, top_p):\n"
                "    probs = torch.softmax(logits, dim=-1)\n"
                "    sorted_probs = torch.sort(probs, dim=-1, descending=True).values\n"
                "    count = ((torch.cumsum(sorted_probs, dim=-1) - sorted_probs) < top_p).sum(-1, keepdim=True)\n"
                "    threshold = sorted_probs.gather(-1, count - 1)\n"
                "    return logits.masked_fill(probs < threshold, float('-inf'))"
            ),
            "ascending sort, drop while the tail stays within 1 - top_p": (
                "def top_p_filter(logits, top_p):\n"
                "    sorted_logits, order = torch.sort(logits, dim=-1)\n"
                "    tail = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1) <= 1 - top_p\n"
                "    tail[..., -1] = False\n"
                "    drop = tail.scatter(-1, order, tail)\n"
                "    return logits.masked_fill(drop, float('-inf'))"
            ),
            "inclusive cumsum shifted right by one": (
                "def top_p_filter(logits, top_p):\n"
                "    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)\n"
                "    over = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1) > top_p\n"
                "    drop_sorted = torch.zeros_like(over)\n"
                "    drop_sorted[..., 1:] = over[..., :-1]\n"
                "    drop = torch.empty_like(drop_sorted).scatter_(-1, order, drop_sorted)\n"
                "    out = logits.clone()\n"
                "    out[drop] = float('-inf')\n"
                "    return out"
            ),
        },
        "rms_norm": {
            "through the vector norm": (
                "def rms_norm(x, weight, eps=1e-6):\n"
                "    d = x.shape[-1]\n"
                "    return weight * x / torch.sqrt(torch.linalg.vector_norm(x, dim=-1, keepdim=True) ** 2 / d + eps)"
            ),
            "rsqrt, computed in float32": (
                "def rms_norm(x, weight, eps=1e-6):\n"
                "    y = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps)\n"
                "    return y * weight.float()"
            ),
            "in numpy, back to a tensor": (
                "def rms_norm(x, weight, eps=1e-6):\n"
                "    a = x.numpy()\n"
                "    return torch.from_numpy(a / np.sqrt(np.mean(a**2, axis=-1, keepdims=True) + eps) * weight.numpy())"
            ),
        },
    },
    "13_huggingface": {
        "context_windows": {
            "starts computed first": (
                "def context_windows(num_tokens, room, stride):\n"
                "    starts = [0]\n"
                "    while starts[-1] + room < num_tokens:\n"
                "        starts.append(starts[-1] + room - stride)\n"
                "    return [[s, min(s + room, num_tokens)] for s in starts]"
            ),
        },
        "no_answer_score": {
            "torch, log-softmax": (
                "def no_answer_score(start_logits, end_logits, context_mask):\n"
                "    keep = torch.as_tensor(context_mask, dtype=torch.bool).clone()\n"
                "    keep[0] = True\n"
                "    a = torch.as_tensor(start_logits, dtype=torch.float64).masked_fill(~keep, float('-inf'))\n"
                "    b = torch.as_tensor(end_logits, dtype=torch.float64).masked_fill(~keep, float('-inf'))\n"
                "    return torch.exp(torch.log_softmax(a, 0)[0] + torch.log_softmax(b, 0)[0])"
            ),
        },
        "best_span": {
            "two loops": (
                "def best_span(start_logits, end_logits, allowed, max_answer_len=30):\n"
                "    a = [float(x) for x in start_logits]\n"
                "    b = [float(x) for x in end_logits]\n"
                "    ok = [bool(x) for x in allowed]\n"
                "    m_a, m_b = max(a), max(b)\n"
                "    z_a = sum(math.exp(x - m_a) for x in a)\n"
                "    z_b = sum(math.exp(x - m_b) for x in b)\n"
                "    best = None\n"
                "    for s in range(len(a)):\n"
                "        for e in range(s, min(len(a), s + max_answer_len)):\n"
                "            if ok[s] and ok[e]:\n"
                "                score = math.exp(a[s] - m_a) / z_a * math.exp(b[e] - m_b) / z_b\n"
                "                if best is None or score > best[2]:\n"
                "                    best = (s, e, score)\n"
                "    return best"
            ),
            "torch, triu band": (
                "def best_span(start_logits, end_logits, allowed, max_answer_len=30):\n"
                "    a = torch.as_tensor(start_logits, dtype=torch.float64)\n"
                "    b = torch.as_tensor(end_logits, dtype=torch.float64)\n"
                "    ok = torch.as_tensor(allowed, dtype=torch.bool)\n"
                "    scores = torch.softmax(a, 0)[:, None] * torch.softmax(b, 0)[None, :]\n"
                "    n = len(a)\n"
                "    band = torch.ones(n, n, dtype=torch.bool).triu().tril(max_answer_len - 1)\n"
                "    valid = band & ok[:, None] & ok[None, :]\n"
                "    scores = scores.masked_fill(~valid, -1.0)\n"
                "    flat = int(torch.argmax(scores.flatten()))\n"
                "    return flat // n, flat % n, scores.flatten()[flat].item()"
            ),
            "log-probabilities, numpy scalars returned": (
                "def best_span(start_logits, end_logits, allowed, max_answer_len=30):\n"
                "    a, b = np.asarray(start_logits, dtype=float), np.asarray(end_logits, dtype=float)\n"
                "    ok = np.asarray(allowed, dtype=bool)\n"
                "    log_p = a - a.max() - np.log(np.exp(a - a.max()).sum())\n"
                "    log_q = b - b.max() - np.log(np.exp(b - b.max()).sum())\n"
                "    total = log_p[:, None] + log_q[None, :]\n"
                "    s_idx, e_idx = np.indices(total.shape)\n"
                "    valid = (e_idx >= s_idx) & (e_idx - s_idx < max_answer_len) & ok[:, None] & ok[None, :]\n"
                "    total = np.where(valid, total, -np.inf)\n"
                "    s, e = np.unravel_index(np.argmax(total), total.shape)\n"
                "    return s, e, np.exp(total[s, e])"
            ),
        },
    },
}
