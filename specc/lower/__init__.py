"""Stage 3, lower: the only code that interprets spec values; its result is the IR (specc.ir).

    params.py       ${params.*} resolved everywhere but block bodies
    interpolate.py  the ${...} syntax
    arithmetic.py   constant arithmetic between the braces, computed node by node (never run as Python)
    graph.py        the model section -> Graph: blocks expanded, names given, references resolved, nodes ordered
    blocks.py       one block instance's items, with its parameters substituted and their bindings recorded
    names.py        Keras's naming rule for unnamed layers and objects
    values.py       spec values -> Calls and identifiers (`describe`), for every Keras object
    paths.py        relative paths -> absolute, from the file that wrote them
    sections.py     compile, train, data and distribution -> IR; the last pass
    canonical.py    the versioned canonical form of the resolved spec, and its content hash

The order in which these and the validation passes run is `specc.pipeline.PASSES`.
"""
