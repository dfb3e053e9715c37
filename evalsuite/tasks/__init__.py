"""Tasks: YAML cards (:mod:`.cards`), finding them (:mod:`.registry`) and loading their data
onto canonical example fields (:mod:`.data`)."""
