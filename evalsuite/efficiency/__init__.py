"""Cost of prediction: timing, memory and energy (:mod:`.meter`) and the latency profile
(:mod:`.profiling`)."""
