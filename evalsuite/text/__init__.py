"""Language-aware text helpers shared by metrics and baselines: language codes and scripts
(:mod:`.languages`), sentence splitting (:mod:`.sentences`) and word tokenization for
metrics (:mod:`.tokenize`)."""
