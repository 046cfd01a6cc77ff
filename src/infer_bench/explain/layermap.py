"""Which Keras layer each ONNX node came from: ONNX Runtime's node names mapped back onto the model's layers.

**Node -> layer.** Keras' ONNX export (tf2onnx on a traced function) names
every node after the TensorFlow name scope it was traced in:
``"<model>_1/<layer scope>/<op>"``, e.g. ``"simple_cnn_1/conv2d_1_2/BiasAdd"``.
The scope is *not* the layer's name: TensorFlow makes scope names unique per
graph, so the layers ``conv2d`` and ``conv2d_1`` of a loaded model trace as
``conv2d_1`` and ``conv2d_1_2``; matching scopes to layer names by equality
would silently credit the first convolution's time to the second. So the
mapping aligns, in order, the scopes of the ONNX graph (first appearance in
its topologically sorted node list) with the model's layers, comparing
*base names* (the name without its trailing ``_<n>`` counters: ``conv2d``,
``max_pooling2d``, ``dense``), as a longest common subsequence. Layers that
leave no node (Dropout, often Flatten) are skipped by the alignment; a scope
left unaligned maps to the only layer of its base name, if there is exactly
one. ONNX Runtime's optimizer renames nodes it rewrites
(``"fused <name>"``, ``"<name>:0_nchwc"``) but keeps the scope path, so the
profiler's names map through the same table. Nodes with no layer scope
(layout ``ReorderOutput`` nodes, tf2onnx's ``Transpose__36``, shape
arithmetic) are reported as ``"other (<op>)"``. Branching models whose
branches hold layers of the same base name may be aligned in the wrong
branch order; chains (all three models here) are exact.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ArtifactError, InferBenchError

KERNEL_SUFFIX = "_kernel_time"  # ONNX Runtime's profiler names a node's kernel event "<node>_kernel_time"
OTHER = "other ({op})"

_COUNTER_RE = re.compile(r"(_\d+)+$")


def base_name(name: str) -> str:
    """A layer or scope name without its trailing ``_<n>`` counters: ``conv2d_1_2`` -> ``conv2d``."""
    stripped = _COUNTER_RE.sub("", name)
    return stripped or name


def clean_node_name(name: str) -> str:
    """A profiler event name as an ONNX node name: no ``_kernel_time``, no ``fused `` prefix."""
    if name.endswith(KERNEL_SUFFIX):
        name = name[: -len(KERNEL_SUFFIX)]
    first, sep, rest = name.partition("/")
    if " " in first:  # "fused simple_cnn_1/dense_1/MatMul/MatMulAddFusion"
        name = first.rsplit(" ", 1)[-1] + sep + rest
    return name


# --- node -> layer -----------------------------------------------------------------------


def keras_layers(keras_model) -> list[tuple[str, str]]:
    """(name, Keras class name) of every layer in call order, nested models flattened, inputs left out."""
    import keras

    def flatten(model):
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                yield from flatten(layer)
            elif type(layer).__name__ != "InputLayer":
                yield layer.name, type(layer).__name__

    return list(flatten(keras_model))


def _lcs_pairs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs (i, j) of one longest common subsequence of ``a`` and ``b``, in order."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


class NodeLayerMapper:
    """Maps ONNX node names (as in the graph or in ONNX Runtime's profile) to Keras layers.

    ``graph_node_names``: the ONNX graph's node names in graph order.
    ``layers``: (name, kind) of the Keras layers in call order (``keras_layers``).
    ``model_name``: the Keras model's name, whose scope wraps every node.
    See the module docstring for how scopes are aligned with layers.
    """

    def __init__(self, graph_node_names, layers, model_name: str):
        self.layers = [(str(n), str(k)) for n, k in layers]
        if not self.layers:
            raise InferBenchError(f"Model {model_name!r} has no layers to map ONNX nodes to.")
        self.kinds = dict(self.layers)
        self._bases = {base_name(n) for n, _ in self.layers}
        self._model_base = base_name(model_name)
        scopes: list[tuple[str, ...]] = []
        for name in graph_node_names:
            scope = self.scope_of(name)
            if scope is not None and scope not in scopes:
                scopes.append(scope)
        layer_bases = [base_name(n) for n, _ in self.layers]
        scope_bases = [base_name(s[-1]) for s in scopes]
        self.scope_to_layer: dict[tuple[str, ...], str] = {}
        for i, j in _lcs_pairs(scope_bases, layer_bases):
            self.scope_to_layer[scopes[i]] = self.layers[j][0]
        taken = set(self.scope_to_layer.values())
        for scope, b in zip(scopes, scope_bases):
            if scope in self.scope_to_layer:
                continue
            free = [n for n, _ in self.layers if base_name(n) == b and n not in taken]
            if len(free) == 1:
                self.scope_to_layer[scope] = free[0]
                taken.add(free[0])

    @classmethod
    def from_onnx(cls, onnx_path, keras_model) -> NodeLayerMapper:
        """The mapper for an ONNX file exported from ``keras_model``."""
        import onnx

        path = Path(onnx_path)
        try:
            graph = onnx.load(str(path), load_external_data=False).graph
        except Exception as exc:  # onnx raises DecodeError, OSError ...
            raise ArtifactError(f"Cannot read the ONNX model {str(path)!r}: {exc}", "re-export the model.") from exc
        return cls([node.name for node in graph.node], keras_layers(keras_model), keras_model.name)

    def scope_of(self, node_name: str) -> tuple[str, ...] | None:
        """The node's layer scope path (up to the first segment naming a layer kind), or None."""
        segments = clean_node_name(node_name).split("/")
        candidates = segments[:-1]  # the last segment is the op itself
        for i, segment in enumerate(candidates):
            b = base_name(segment)
            if i == 0 and b == self._model_base and len(candidates) > 1:
                continue  # the model's own scope
            if b in self._bases:
                return tuple(segments[: i + 1])
        return None

    def layer_of(self, node_name: str, op: str) -> tuple[str, str]:
        """(layer name, Keras kind) of a node, or ("other (<op>)", op) when it belongs to no layer."""
        scope = self.scope_of(node_name)
        layer = self.scope_to_layer.get(scope) if scope is not None else None
        if layer is None:
            return OTHER.format(op=op), op
        return layer, self.kinds[layer]
