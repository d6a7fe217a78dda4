"""Backend 1, build: a lowered spec as a real Keras model.

`build_model(spec)` makes a `keras.Sequential` when the graph is a plain
chain (the way a person writes one) and a functional `keras.Model` otherwise,
creating and calling the layers in the IR's topological order, after
`keras.utils.set_random_seed(spec.seed)`: the same spec gives the same
initial weights every time, and the same weights as the same model written
by hand in that order. A layer that Keras cannot apply to its inputs (shapes
that do not fit) becomes a located `SpecError` naming the layer and the shapes.

Every Keras object is made under a guard: whatever Keras refuses (an input, a
layer or any object among its arguments, the model, each of compile's
optimizer, losses and metrics, `model.compile` itself) is a located
`SpecError` at that object's path in the spec, with Keras's own message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from specc.build.expressions import SeveralOutputs, evaluate
from specc.build.keras import (Refused, fresh_operation_names, import_keras, keras_argument, keras_callable, keras_message,
                               realize)
from specc.codes import Code
from specc.errors import Diagnostic, SpecError, dotted, split_where
from specc.ir import APPLICATION, LAYER, MODEL, OPS, SHARED, Compile, Graph, InputNode, LayerNode, ModelClass, Ref, Spec


def build_model(spec: Spec | str | os.PathLike, *, compile: bool = True):
    """The Keras model a spec describes, compiled when the spec has a `compile` section.

    Raises SpecError, located in the spec, when the model cannot be built.
    """
    from specc.pipeline import as_spec

    spec = as_spec(spec)
    keras = import_keras()
    if spec.seed is not None:
        try:
            keras.utils.set_random_seed(spec.seed)
        except Exception as err:  # validation takes 0 to 2**32 - 1, as NumPy does: this is a belt
            raise _located(spec, Code.BAD_VALUE, f"Keras cannot seed with it: {keras_message(err)}", ("seed",), "seed") from None
    builder = _Builder(spec, keras)
    if spec.graph.sequential:
        model = builder.sequential()
    else:
        with fresh_operation_names():  # the operations of expressions named as in a new process
            model = builder.functional()
    if spec.weights is not None:
        _load_weights(model, spec)
    if compile and spec.compile is not None:
        compile_model(model, spec)
    return model


def _load_weights(model, spec: Spec) -> None:
    """`model.weights`: the file's weights in the built model, or a located error (Keras's message kept)."""
    where, written = ("model", "weights"), spec.weights.written
    if not os.path.isfile(spec.weights.path):
        raise _located(spec, Code.WEIGHTS_FILE, f"no such weights file: {written}", where, "model.weights")
    try:
        model.load_weights(spec.weights.path)
    except Exception as err:  # another architecture, or not an HDF5 weights file
        raise _located(spec, Code.WEIGHTS_FILE, f"Keras cannot load {written} into this model: {keras_message(err)}",
                       where, "model.weights") from None


def compile_model(model, spec: Spec, section: Compile | None = None, path: tuple = ("compile",)) -> None:
    """`model.compile` with the spec's `compile` section (or `section`, written at `path`: a phase's).

    The optimizer, losses and metrics are made one by one, each located at its path
    (`compile.optimizer`, `compile.loss.<output>`, `compile.metrics[1]`, ...) if Keras refuses it.
    """
    section = section or spec.compile
    made = {key: _realized(spec, getattr(section, key), path + (key,))
            for key in ("optimizer", "loss", "metrics", "weighted_metrics")}
    try:
        model.compile(
            **made,
            loss_weights=section.loss_weights,
            run_eagerly=section.run_eagerly,
            steps_per_execution=section.steps_per_execution or 1,  # unset: training chooses (specc.speed)
            jit_compile=section.jit_compile,
            auto_scale_loss=section.auto_scale_loss,
        )
    except Exception as err:  # the arguments together, which Keras checks when compiling
        raise _located(spec, Code.MODEL_REFUSED, f"Keras cannot compile the model with these arguments: {keras_message(err)}",
                       path, dotted(path)) from None


def _realized(spec: Spec, value: Any, path: tuple, where: str = "", base: tuple = ()) -> Any:
    """`realize(value)` for the value at `path`; an object Keras refuses is a SpecError at its path.

    `where` names what holds the value (a layer, `model.layers[0] (Dense)`; none for the compile
    section) and `base` is its path: the error names each object from there, as validation does
    (`model.layers[0] (Dense): kernel_regularizer (L2)`, `compile.optimizer (Adam): learning_rate (CosineDecay)`).
    """
    try:
        return realize(value, path)
    except Refused as refused:
        parts = [where] if where else []
        for object_path, name in refused.objects:
            parts.append(f"{dotted(object_path[len(base):])} ({name})")
            base = object_path + (name,)
        raise _located(spec, Code.KERAS_REFUSED, f"Keras cannot create it: {keras_message(refused.cause)}", refused.at,
                       ": ".join(parts)) from None


def _located(spec: Spec, code: Code, message: str, path: tuple, where: str) -> SpecError:
    return SpecError([Diagnostic(code, message, spec.location(path), where)])


class _Builder:
    """Creates and calls the graph's layers; `functional` dispatches on each node's kind."""

    def __init__(self, spec: Spec, keras, graph: Graph | None = None):
        self.spec = spec
        self.graph: Graph = graph or spec.graph  # a block made one keras.Model: its own graph
        self.keras = keras
        self.by_name = {node.name: node for node in self.graph.layers}
        self.layers: dict[str, Any] = {}  # node name -> its Keras layer (a shared node: its owner's)
        self.first_call: dict[str, list] = {}  # a layer's node -> the inputs it was built for
        self.tensors: dict[str, Any] = {}  # node name -> its output, as the functional model is made

    # -- layers, by node kind --------------------------------------------------

    def make_layer(self, node: LayerNode, upstream: list | None = None):
        """A new Keras layer (or keras.applications model) for a `layer` or `application` node."""
        make = {APPLICATION: self.make_application, MODEL: self.make_submodel}.get(node.kind, self.make_plain_layer)
        return make(node, upstream)

    def make_submodel(self, node: LayerNode, upstream: list | None = None):
        """A `model` node's keras.Model: the block's layers on inputs shaped like the tensors it is first applied to."""
        graph = node.submodel
        inputs = {}
        for declared, tensor in zip(graph.inputs, upstream or ()):
            try:
                inputs[declared.name] = self.keras.Input(shape=tuple(tensor.shape[1:]), dtype=tensor.dtype, name=declared.name)
            except Exception as err:
                raise self.error(Code.KERAS_REFUSED, node, f"Keras cannot create the sub-model's input "
                                 f"'{declared.name}': {keras_message(err)}", at="inputs") from None
        return _Builder(self.spec, self.keras, graph).functional(inputs=inputs, name=node.name)

    def make_plain_layer(self, node: LayerNode, upstream: list | None = None):
        args = self.arguments(node)
        return self._guard(node, lambda: keras_callable(node.keras_path)(name=node.name, **args))

    def make_application(self, node: LayerNode, upstream: list | None = None):
        args = self.arguments(node)
        if node.shape_from_input and upstream:  # a functional model: the shape of the tensor it is applied to
            args["input_shape"] = tuple(upstream[0].shape[1:])
        try:
            model = keras_callable(node.keras_path)(name=node.name, **args)
        except Exception as err:
            raise self.error(Code.APPLICATION, node, _application_failure(err, args.get("weights")), at="weights"
                             if args.get("weights") == "imagenet" else None) from None
        model.trainable = node.trainable
        return model

    def apply_new(self, node: LayerNode, inputs: list):
        """A `layer` or `application` node: its layer, made for these inputs, called on them."""
        return self.apply_layer_of(node, node, inputs)

    def apply_shared(self, node: LayerNode, inputs: list):
        """A `shared` node: the layer of node `shares` applied again."""
        return self.apply_layer_of(self.by_name[node.shares], node, inputs)

    def apply_layer_of(self, owner: LayerNode, node: LayerNode, inputs: list):
        """The layer of `owner` (made on its first use, by whichever node comes first) called for `node`.

        Every call of one layer needs inputs of the shape it was built for.
        """
        if owner.name not in self.layers:
            self.layers[owner.name] = self.make_layer(owner, inputs)
            self.first_call[owner.name] = inputs
        elif [_shape(t) for t in inputs] != [_shape(t) for t in self.first_call[owner.name]]:
            # Keras would accept the call and fail only when training, deep in TensorFlow.
            built = ", ".join(_shape(t) for t in self.first_call[owner.name])
            raise self.error(Code.SHARED_SHAPE, node, f"'{owner.name}' was built for input{'s' if len(inputs) > 1 else ''} of shape {built}; "
                                   f"a shared layer needs the same here, but gets {', '.join(_shape(t) for t in inputs)}",
                             at="inputs")
        return self.call(owner, self.layers[owner.name], inputs, self.call_arguments(node))

    def apply_expression(self, node: LayerNode, inputs: list):
        """An `ops` node: its expression computed with keras.ops on its input tensors."""
        try:
            result = evaluate(node.expression, inputs, self.keras.ops)
        except SeveralOutputs as err:
            name = node.inputs[err.index].name
            raise self.error(Code.OUTPUT_INDEX, node, f"'{name}' has {err.count} outputs: pick one, e.g. '{name}[0]'",
                             at="expr") from None
        except Exception as err:
            shapes = ", ".join(f"{ref} {_shape(t)}" for ref, t in zip(node.inputs, inputs))
            raise self.error(Code.EXPRESSION_REFUSED, node, f"Keras cannot compute it on {shapes}: {keras_message(err)}",
                             at="expr") from None
        if not _is_symbolic(self.keras, result):
            raise self.error(Code.EXPRESSION_REFUSED, node, "the expression does not give one tensor of the model "
                             f"(it gives {_kind_of(result)}): a result must depend on the model's inputs", at="expr")
        return result

    def call_arguments(self, node: LayerNode) -> dict:
        """call()'s keyword arguments for a node: its constants, and the tensors it names (a list for several)."""
        arguments = {}
        for key, value in node.call.items():
            if isinstance(value, Ref):
                arguments[key] = self.tensor(node, value, self.tensors, at=("call", key))
            elif isinstance(value, tuple):
                arguments[key] = [self.tensor(node, ref, self.tensors, at=("call", key)) for ref in value]
            else:
                arguments[key] = value
        return arguments

    def arguments(self, node: LayerNode) -> dict:
        """A node's arguments as Keras objects; one Keras refuses is located at it, inside the layer."""
        base = node.path + (node.type,)
        return _realized(self.spec, node.kwargs, base, self.where(node), base)

    def _guard(self, node: LayerNode, make):
        try:
            return make()
        except Exception as err:  # Keras raises ValueError, TypeError, ... for bad arguments
            raise self.error(Code.KERAS_REFUSED, node, f"Keras cannot create it: {keras_message(err)}",
                             at=keras_argument(err, node.kwargs)) from None

    @staticmethod
    def call(node: LayerNode, layer, tensors: list, arguments: dict | None = None):
        """Apply a layer to its input tensors, the way its `call` takes them (by name when the spec names them)."""
        arguments = arguments or {}
        if node.input_names:
            return layer(**dict(zip(node.input_names, tensors)), **arguments)
        if node.takes_list:
            return layer(tensors, **arguments)
        if len(tensors) == 1:
            return layer(tensors[0], **arguments)
        return layer(*tensors, **arguments)

    # -- models ----------------------------------------------------------------

    def sequential(self):
        keras = self.keras
        layers = [self.make_layer(node) for node in self.graph.layers]  # created first, as in keras.Sequential([...])
        stack = [self.input_tensor(self.graph.inputs[0])] if self.graph.inputs else []
        try:
            model = keras.Sequential([*stack, *layers], name=self.spec.name)
        except Exception as err:
            # Find which layer failed, on fresh copies, so the message can point at it.
            self.functional(check_only=True)
            raise self.model_error(err) from None
        if stack:  # built: check what Keras accepted, as for a functional model
            tensors = {self.graph.inputs[0].name: model.inputs[0]}
            tensors.update((node.name, layer.output) for node, layer in zip(self.graph.layers, layers))
            self.check_built(tensors)
        return model

    def functional(self, check_only: bool = False, inputs: dict | None = None, name: str | None = None):
        """The functional model of the graph; `inputs`: its input tensors, made already (a sub-model's)."""
        keras = self.keras
        tensors: dict[str, Any] = dict(inputs) if inputs is not None else {
            node.name: self.input_tensor(node) for node in self.graph.inputs}
        self.tensors = tensors
        apply = {LAYER: self.apply_new, APPLICATION: self.apply_new, SHARED: self.apply_shared, OPS: self.apply_expression,
                 MODEL: self.apply_new}
        for node in self.graph.layers:
            # An expression takes its tensors as they are: `enc[1]` is a subscript in it, of a list or of a tensor.
            inputs = [tensors[ref.name] if node.kind == OPS else self.tensor(node, ref, tensors) for ref in node.inputs]
            try:
                tensors[node.name] = apply[node.kind](node, inputs)
            except SpecError:
                raise
            except Exception as err:
                shapes = ", ".join(_shape(t) for t in inputs)
                raise self.error(Code.SHAPE_REFUSED, node, f"cannot be applied to input{'s' if len(inputs) > 1 else ''} of shape "
                                       f"{shapes}: {keras_message(err)}") from None
        if check_only:
            return None
        outputs = self.check_built(tensors)
        model_inputs = [tensors[node.name] for node in self.graph.inputs]
        inputs = model_inputs[0] if len(model_inputs) == 1 else model_inputs
        outputs = outputs[0] if len(outputs) == 1 else outputs
        subclass = self.spec.model_class if name is None else None  # the spec's own model, not a sub-model
        try:
            if subclass is None:
                return keras.Model(inputs=inputs, outputs=outputs, name=name or self.spec.name)
            if not subclass.parts:  # Keras makes a Model subclass given inputs and outputs a Functional one
                return keras_callable(subclass.path)(inputs=inputs, outputs=outputs, name=self.spec.name,
                                                     **self.class_arguments(subclass))
        except SpecError:
            raise
        except Exception as err:
            raise self.model_error(err) from None
        return self.made_of_parts(subclass, inputs)

    def class_arguments(self, subclass: ModelClass) -> dict:
        base = ("model", "arguments")
        return _realized(self.spec, dict(subclass.kwargs), base, f"model.arguments ({subclass.registered})", base)

    def made_of_parts(self, subclass: ModelClass, inputs):
        """model.class given its sub-models (`parts`) and its arguments, then called once on the graph's inputs, so that
        it is built (a model must be, to be saved, summarized or restored)."""
        parts = {argument: self.layers[node] for argument, node in subclass.parts.items()}
        try:
            model = keras_callable(subclass.path)(**parts, **self.class_arguments(subclass), name=self.spec.name)
        except SpecError:
            raise
        except Exception as err:
            raise _located(self.spec, Code.KERAS_REFUSED, f"Keras cannot create {subclass.registered}: "
                           f"{keras_message(err)}", ("model", "class"), "model.class") from None
        try:
            model(inputs)
        except Exception as err:
            raise _located(self.spec, Code.MODEL_REFUSED, f"{subclass.registered} cannot be called on the model's "
                           f"inputs, which it needs to be built: {type(err).__name__}: {keras_message(err)}",
                           ("model", "class"), "model.class") from None
        return model

    def input_tensor(self, node: InputNode):
        """`keras.Input` for a model input; one Keras refuses is located at it (an implicit one: at `input_shape`)."""
        try:
            return self.keras.Input(shape=node.shape, batch_size=node.batch_size, dtype=node.dtype, sparse=node.sparse,
                                    ragged=node.ragged, name=node.name)
        except Exception as err:
            raise self.input_error(node, err) from None

    def input_error(self, node: InputNode, err: Exception) -> SpecError:
        """keras.Input refusing a model input: at the argument Keras names, where the input is declared."""
        message = f"Keras cannot create the model's input from it: {keras_message(err)}"
        argument = keras_argument(err, ("shape", "batch_size", "dtype", "sparse", "ragged"))
        if node.path[:2] == ("model", "inputs"):
            return _located(self.spec, Code.KERAS_REFUSED, message, node.path + ((argument,) if argument else ()),
                            dotted(node.path))
        where, key = split_where(node.path)  # in model.layers: the first layer's input_shape, or an InputLayer item's shape
        if key == "input_shape":
            return _located(self.spec, Code.KERAS_REFUSED, f"{key}: {message}", node.path, where)
        return _located(self.spec, Code.KERAS_REFUSED, message, node.path[:-1] + (argument or key,), where)

    def tensor(self, node: LayerNode | None, ref: Ref, tensors: dict, at: tuple = ("inputs",)):
        """The tensor `ref` names; `node` is the node using it (None: a model output, located at model.outputs)."""
        value = tensors[ref.name]
        several = isinstance(value, (list, tuple))
        problem = None
        if ref.index is None and several:
            problem = f"'{ref.name}' has {len(value)} outputs: pick one, e.g. '{ref.name}[0]'"
        elif ref.index is not None and not several:
            problem = f"'{ref.name}' has one output, so '{ref}' does not exist: write '{ref.name}'"
        elif ref.index is not None and ref.index >= len(value):
            problem = f"'{ref.name}' has {len(value)} outputs (0 to {len(value) - 1}); there is no '{ref}'"
        if problem is None:
            return value[ref.index] if ref.index is not None else value
        if node is None:
            raise SpecError([Diagnostic(Code.OUTPUT_INDEX, problem + "; a model output must be one tensor",
                                        self._location(("model", "outputs")), "model.outputs")])
        raise self.error(Code.OUTPUT_INDEX, node, problem, at=at)

    def check_built(self, tensors: dict) -> list:
        """What Keras builds without complaint but is surely a mistake; returns the output tensors."""
        outputs = [self.tensor(None, ref, tensors) for ref in self.graph.output_references]
        self.check_declared_input_shapes(tensors)
        self.check_forgotten_flatten(tensors)
        return outputs

    def check_declared_input_shapes(self, tensors: dict) -> None:
        """`input_shape` on a layer whose real input has another shape (Keras only warns, and ignores it)."""
        for node in self.graph.layers:
            declared = node.kwargs.get("input_shape")
            if not isinstance(declared, list) or len(node.inputs) != 1:
                continue
            actual = tuple(tensors[node.inputs[0].name].shape[1:])
            if len(actual) != len(declared) or any(d is not None and a is not None and d != a
                                                   for d, a in zip(declared, actual)):
                raise self.error(Code.INPUT_SHAPE_IGNORED, node, f"input_shape {tuple(declared)} does not match the shape of its input "
                                       f"'{node.inputs[0]}', {actual}: Keras would ignore input_shape here. Fix one "
                                       "of them (the model's input shape is declared in model.inputs)", at="input_shape")

    def check_forgotten_flatten(self, tensors: dict) -> None:
        """Dense on an image-like (4-D or more) tensor that stays image-like up to a model output.

        Keras applies Dense to the last axis of any tensor, so this builds fine;
        but a classifier whose output is per-pixel is the tutorial's forgotten Flatten.
        """
        producers = {node.name: node for node in self.graph.layers}
        for ref in self.graph.output_references:
            output = ref.name
            if ref.index is not None or len(tensors[output].shape) < 4:
                continue
            stack, seen = [output], set()
            while stack:
                name = stack.pop()
                if name in seen or name not in producers:
                    continue
                seen.add(name)
                node = producers[name]
                if node.type == "Dense" and node.inputs and len(tensors[node.inputs[0].name].shape) >= 4:
                    raise self.error(Code.MISSING_FLATTEN, node, f"Dense was given a {len(tensors[node.inputs[0].name].shape)}-D input of shape "
                                           f"{_shape(tensors[node.inputs[0].name])} and applies to its last axis only, so the model "
                                           f"output '{output}' has shape {_shape(tensors[output])}: add a Flatten (or "
                                           "GlobalAveragePooling2D) layer before it")
                stack.extend(ref.name for ref in node.inputs)

    # -- errors ----------------------------------------------------------------

    def _location(self, path: tuple):
        return self.spec.location(path)

    def model_error(self, err: Exception) -> SpecError:
        """Keras refusing to make the model of the layers it made: at the layer its message names, else at model.layers."""
        message = f"Keras cannot make the model: {keras_message(err)}"
        named = re.search(r"operation '([^']+)'", str(err))
        node = self.by_name.get(named.group(1)) if named else None
        twice = re.search(r'The name "([^"]+)" is used \d+ times', str(err))
        if twice and twice.group(1) in self.by_name:  # a layer named like an operation Keras names by itself
            return self.error(Code.MODEL_REFUSED, self.by_name[twice.group(1)], f"the name '{twice.group(1)}' is also "
                              "the name Keras gives an operation of a tensor expression (ops:): rename this layer", at="name")
        if node is not None:
            return self.error(Code.MODEL_REFUSED, node, message)
        return _located(self.spec, Code.MODEL_REFUSED, message, ("model", "layers"), "model.layers")

    @staticmethod
    def where(node: LayerNode) -> str:
        where = f"{dotted(node.path)} ({node.type})"
        return where + (f" in block instance '{node.block}'" if node.block else "")

    def error(self, code: Code, node: LayerNode, message: str, at: str | tuple | None = None) -> SpecError:
        type_key = "Shared" if node.kind == SHARED else node.type
        if node.kind == OPS and at == "inputs":
            at = "expr"
        path = node.path + (type_key,) + ((at,) if isinstance(at, str) else (at or ()))
        return SpecError([Diagnostic(code, message, self._location(path), self.where(node))])


def _application_failure(err: Exception, weights: Any) -> str:
    """Why a keras.applications model could not be made; for `imagenet`, where its file belongs."""
    text = keras_message(err)
    url = re.search(r"https?://\S+?(?=[\s:]|$)", str(err))
    if weights == "imagenet" and url:
        cache = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"
        name = url.group(0).rstrip("/").rsplit("/", 1)[-1]
        return (f"weights: imagenet needs {name} in Keras's cache, {cache}, and it is not there (downloading it "
                f"failed: {text}). Download {url.group(0)} where there is a network and place it in {cache}, "
                "or give weights: the path of a local weights file")
    return f"Keras cannot create it: {text}"


def _is_symbolic(keras, value) -> bool:
    return isinstance(value, keras.KerasTensor)


def _kind_of(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"{len(value)} values"
    return "a constant" if hasattr(value, "shape") else f"the Python value {value!r}"


def _shape(tensor) -> str:
    shape = getattr(tensor, "shape", None)
    return str(tuple(shape)) if shape is not None else type(tensor).__name__
