"""Every diagnostic's code, defined once: the kind of mistake, which stays when the message text changes.

A code is a letter for the part of the spec or the stage that finds the
mistake, then three digits, as ruff's rule codes are (`K102`). There is one
code per kind of mistake, not per message: every "unknown argument" is
`K102`, whichever class it is for. `specc validate --format json` prints it
with each diagnostic; README.md ("Errors") lists this table, and a test keeps
the two the same.

    Y  reading the YAML: syntax, limits, tags, aliases, duplicate keys
    F  files: the spec file, `extends`, `--set`
    S  structure: sections and keys, the types and values they take
    P  params and `${...}`
    K  Keras objects against the catalog: classes and their arguments
    G  the graph: names, references, cycles, inputs, blocks
    B  building the model in Keras: shapes, shared layers, applications
    D  data: sources, files, arrays, transforms, the split, the data against the model
    R  runs: callbacks, the distribution strategy, devices

Adding a code: give it the next number of its letter, here and in README.md.
Never reuse or renumber one: people and tools match on them.
"""

from __future__ import annotations

from enum import Enum, unique


@unique
class Code(str, Enum):
    """A diagnostic's stable code: the string itself ("K102"), with `meaning` in one line."""

    meaning: str

    def __new__(cls, code: str, meaning: str):
        member = str.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    def __str__(self) -> str:  # "K102", in messages and f-strings alike, on every Python version
        return self.value

    # -- Y: reading the YAML ---------------------------------------------------------------
    YAML_SYNTAX = "Y101", "the file is not valid YAML"
    NOT_TEXT = "Y102", "the file is not UTF-8 text, or holds a character YAML does not allow"
    TOO_LARGE = "Y103", "the file is past a limit: its size, nodes, nesting, an alias's expansion, an integer's digits"
    YAML_TAG = "Y104", "a YAML tag specc does not read, or a value its tag refuses"
    YAML_ALIAS = "Y105", "an alias to no anchor defined before it, or to a collection that contains it"
    DUPLICATE_KEY = "Y106", "a key written twice in one mapping"
    YAML_KEY = "Y107", "a mapping key that is a collection, or a merge key `<<` given something other than mappings"
    SECOND_DOCUMENT = "Y108", "a second YAML document in one file"

    # -- F: files, extends, --set ------------------------------------------------------------
    UNREADABLE_FILE = "F101", "the spec file cannot be read: missing, a folder, no permission"
    EXTENDS_FILE = "F102", "`extends` names no file that can be read"
    EXTENDS_CHAIN = "F103", "`extends` files that form a cycle, or a chain too long"
    OVERRIDE_SYNTAX = "F104", "a `--set` that is not KEY=VALUE with a key like model.layers[0].Dense.units"
    OVERRIDE_PATH = "F105", "a `--set` key the spec cannot hold: an index past a list's end, a key under a scalar"

    # -- S: structure ------------------------------------------------------------------------
    UNKNOWN_KEY = "S101", "a key the section does not take"
    MISSING_KEY = "S102", "a required key that is not given"
    WRONG_TYPE = "S103", "a value of the wrong type or shape: a string for a number, a list for a mapping, ..."
    BAD_VALUE = "S104", "a value the key does not take: out of its range, not one of its choices, not its pattern"
    NOT_EXACTLY_ONE = "S105", "none, or several, of keys that exclude each other (a data source, a transform)"

    # -- P: params and ${...} ----------------------------------------------------------------
    UNDEFINED_REFERENCE = "P101", "a `${...}` that names no param or block parameter"
    PARAMS_CYCLE = "P102", "params that refer to each other in a cycle, or too deep"
    BAD_INTERPOLATION = "P103", "a `${` without its `}`, a mapping or list inside a longer string, or arithmetic specc refuses or cannot compute"

    # -- K: Keras objects, against the catalog -----------------------------------------------
    UNKNOWN_CLASS = "K101", "a name that is no Keras class or identifier of its kind (layer, optimizer, loss, ...)"
    UNKNOWN_ARGUMENT = "K102", "an argument the Keras class or function does not take"
    BAD_ARGUMENT = "K103", "an argument value Keras would refuse: its type, its range, its choices"
    MISSING_ARGUMENT = "K104", "a required argument of a Keras class that is not given"

    # -- G: the graph ------------------------------------------------------------------------
    UNKNOWN_REFERENCE = "G101", "a name that refers to no layer, model input or model output"
    DUPLICATE_NAME = "G102", "one name for two layers, model inputs or block instances"
    CYCLE = "G103", "layers whose inputs form a cycle"
    INPUT_COUNT = "G104", "a layer or block instance given more or fewer inputs than it takes"
    AMBIGUOUS_INPUT = "G105", "a layer, block or list of transforms that must say which of the model's inputs or outputs it is for"
    UNUSED = "G106", "a model input no layer uses, or a layer whose output goes nowhere"
    BLOCK_PARAMETER = "G107", "a parameter the block does not have, or one without a default that is not given"
    BLOCK_USE = "G108", "a block inside a block, named like a Keras class, or repeated past the layer limit"
    INPUT_ITEM = "G109", "an `Input` or `InputLayer` item that is not a chain's first item, or beside model.inputs"
    EXPRESSION = "G110", "a tensor expression (`ops:`) outside its grammar: an attribute, a lambda, a call of no keras.ops function, an argument that function lacks, too long or deep"
    CALL_ARGUMENT = "G111", "a call argument (`call:`, or `inputs:` by name) the layer's call() does not take, or of the wrong kind"
    OUTPUT_REFERENCE = "G112", "a reference to a layer of several outputs (return_state, return_attention_scores) without its index, or past them"

    # -- B: building the model ---------------------------------------------------------------
    KERAS_REFUSED = "B101", "Keras refuses to create an object from its arguments: a layer, input, optimizer, loss, metric, schedule, initializer, callback"
    SHAPE_REFUSED = "B102", "a layer Keras cannot apply to the shapes of its inputs"
    SHARED_SHAPE = "B103", "a shared layer called on inputs of another shape than at its first call"
    INPUT_SHAPE_IGNORED = "B104", "`input_shape` on a layer whose real input has another shape"
    MISSING_FLATTEN = "B105", "Dense on an image-like tensor up to a model output: a Flatten is missing"
    OUTPUT_INDEX = "B106", "a reference to a layer's outputs without the index it needs, or with one it lacks"
    APPLICATION = "B107", "a keras.applications model that cannot be made, or whose weights cannot be had"
    MODEL_REFUSED = "B108", "a model Keras refuses to assemble from its layers, or to compile with its compile arguments"
    TRAINING_REFUSED = "B109", "a model that builds, and that Keras refuses to train or evaluate: an object failing on the real tensors"
    EXPRESSION_REFUSED = "B110", "a tensor expression Keras cannot compute on its tensors: their shapes or dtypes, or a result that is not one tensor of the model"
    WEIGHTS_FILE = "B111", "`model.weights` names a file that is missing, not a Keras weights file, or whose weights do not fit the model"

    # -- D: data -----------------------------------------------------------------------------
    NO_DATA = "D101", "training a spec without a `data:` section"
    DATA_FILE = "D102", "a data file or folder that is missing or cannot be read"
    DATA_NAME = "D103", "an array or column the data file does not have"
    DATA_CONTENT = "D104", "data that cannot be fed: empty, ragged, not numbers, pickled, or of unequal lengths"
    KERAS_DATASET = "D105", "a keras.datasets dataset that cannot be loaded: not cached and not downloadable, or damaged"
    TRANSFORM = "D106", "a transform that does not fit the array it is applied to"
    SPLIT = "D107", "data.split leaving a set without samples, or nothing to train on"
    DATA_SHAPE = "D108", "data that does not fit the model: an input's shape, an array missing, one array for several"
    LABELS = "D109", "labels that do not fit the loss or the model's output"
    CLASS_WEIGHT = "D110", "class_weight for a model with several outputs, or without a weight for every class"

    # -- R: runs -----------------------------------------------------------------------------
    RUN_FILE = "R101", "a callback that would write over one of the run folder's own files"
    MISSING_PACKAGE = "R102", "a callback that needs a package that is not installed (TensorBoard)"
    STRATEGY_UNAVAILABLE = "R103", "a distribution strategy that cannot run: parameter_server, or a backend other than TensorFlow"
    DEVICE = "R104", "a device name TensorFlow does not read, or a device this machine does not have"
    SCALE_SCHEDULE = "R105", "scale_learning_rate on a learning-rate schedule, which it cannot scale"
    PHASE_TARGET = "R106", "a phase freezing or unfreezing what has no weights (a model input, an expression), or `top` past a nested model's layers or on a layer that is not one"
