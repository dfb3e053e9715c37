"""Result folders (the contract the report and the gate read): writing and reading
``results.json`` and per-example predictions (:mod:`.files`), what a run ran on
(:mod:`.environment`), and the JSON Schema (``schema/results.schema.json``)."""
