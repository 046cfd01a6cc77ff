"""Every operation call of a Keras model, in call order, with the static shapes it ran at.

The cost model needs each *call*, not each layer: a layer called twice
(shared weights) does its work twice, and a model nested inside another
(a ``keras.applications`` backbone in a Sequential) runs its own layers
once per call. ``op_calls`` walks the model's graph node by node,
descending into nested Functional and Sequential models, whose operations
are named ``outer/inner``. Operations that are not layers (``x + 3.0`` on a
symbolic tensor is a ``keras.ops`` ``Add`` node) are calls too.

Shapes come from the graph's own symbolic tensors. Where a nested model
was built for other shapes than it is called with (a backbone built with
``input_shape=None`` and called on 96x96 images), each of its operations'
output shapes is computed again from the shapes it actually receives
(``compute_output_spec``), so its cost is that of the real call.

This reads Keras' graph structures (``_nodes_by_depth`` and each node's
``arguments``), the same ones Keras' own ``Functional`` executes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InferBenchError

Shape = tuple[int, ...]


def static_shape(tensor_shape, what: str) -> Shape:
    """A Keras shape without its batch dimension, every other dimension known."""
    dims = tuple(tensor_shape)[1:]
    if any(d is None for d in dims):
        raise InferBenchError(
            f"The cost model needs static shapes; {what} has shape {tuple(tensor_shape)}.",
            "give the model's Input a fixed shape (only the batch dimension may be None).",
        )
    return tuple(int(d) for d in dims)


@dataclass(frozen=True)
class OpCall:
    """One call of one operation: its full name (``outer/inner`` when nested), the operation, its shapes.

    Shapes leave out the batch dimension.
    """

    name: str
    op: object
    in_shapes: tuple[Shape, ...]
    out_shapes: tuple[Shape, ...]

    def __post_init__(self):
        if not self.name:
            raise InferBenchError("OpCall: the operation has no name.", "name every layer of the model.")
        if not self.out_shapes:
            raise InferBenchError(f"OpCall {self.name!r}: no output shape.",
                                  "cost only operations that return a tensor.")


def _graph(model):
    """The Functional graph behind ``model`` (a Sequential keeps one), or None for a subclassed model."""
    graph = getattr(model, "_functional", model)  # Sequential holds its graph in _functional
    return graph if graph is not None and hasattr(graph, "_nodes_by_depth") else None


def is_graph_model(op) -> bool:
    """Whether ``op`` is a model whose graph can be walked (Functional, or a built Sequential)."""
    import keras

    return isinstance(op, keras.Model) and _graph(op) is not None


def _same_shapes(actual, reference) -> bool:
    return len(actual) == len(reference) and all(
        tuple(a.shape)[1:] == tuple(r.shape)[1:] for a, r in zip(actual, reference))


def _call_specs(node, tensors: dict) -> list:
    """Output specs of ``node`` fed the tensors in ``tensors``: its own outputs when the shapes are unchanged."""
    actual = [tensors[id(x)] for x in node.input_tensors]
    if _same_shapes(actual, node.input_tensors):
        return list(node.outputs)
    import keras

    args, kwargs = node.arguments.fill_in(tensors)
    try:
        specs = node.operation.compute_output_spec(*args, **kwargs)
    except Exception as error:  # any failure here means the layer cannot run at this shape
        raise InferBenchError(
            f"The cost model could not work out the output shape of {node.operation.name!r} "
            f"({type(node.operation).__name__}) for inputs {[tuple(t.shape) for t in actual]}: {error}",
            "build the nested model for the input shape it is called with.",
        ) from error
    return keras.tree.flatten(specs)


def _walk(graph, inputs: list, prefix: str, calls: list) -> list:
    """Append the calls of ``graph`` fed ``inputs`` (symbolic tensors) to ``calls``; return its outputs."""
    tensors = {id(ref): actual for ref, actual in zip(graph.inputs, inputs)}
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if node.operation is None or node.is_input:
                continue
            if any(id(x) not in tensors for x in node.input_tensors):
                continue  # not reachable from the inputs: never runs (as in Keras' own execution)
            actual = [tensors[id(x)] for x in node.input_tensors]
            op = node.operation
            if is_graph_model(op):
                outputs = _walk(_graph(op), actual, f"{prefix}{op.name}/", calls)
            else:
                outputs = _call_specs(node, tensors)
                name = f"{prefix}{op.name}"
                calls.append(OpCall(
                    name, op, tuple(static_shape(t.shape, f"the input of {name!r}") for t in actual),
                    tuple(static_shape(t.shape, f"the output of {name!r}") for t in outputs)))
            for ref, out in zip(node.outputs, outputs):
                tensors[id(ref)] = out
    return [tensors[id(ref)] for ref in graph.outputs]


def op_calls(model) -> list[OpCall]:
    """Every operation call of one forward pass of ``model``, nested models walked, in call order."""
    graph = _graph(model)
    if graph is None:
        raise InferBenchError(
            f"Model {model.name!r} ({type(model).__name__}) has no layer graph to walk.",
            "build it as a Functional or Sequential model with a keras.Input.",
        )
    calls: list[OpCall] = []
    _walk(graph, list(graph.inputs), "", calls)
    return calls
