"""Stage 2, validate: checks only, never transforms; each problem reported, located, through a Collector.

    structure.py  the sections, keys and types, by the pydantic models of specc.schema
    objects.py    Keras objects against the catalog: layer arguments, optimizer, losses, metrics, callbacks
    collector.py  reports become located diagnostics, sorted, raised together as one SpecError

The order in which these and the lowering passes run is `specc.pipeline.PASSES`.
"""
