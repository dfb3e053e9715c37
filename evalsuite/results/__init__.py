"""Result folders (the contract the report and the gate read): the typed records of
``results.json`` and the JSON Schema generated from them (:mod:`.records`), writing and reading
the file and per-example predictions (:mod:`.files`), and what a run ran on
(:mod:`.environment`)."""
