"""The runner: models × tasks → predictions (cached, batched by length) → metrics → records.

:mod:`.run` is the loop, :mod:`.steps` the steps every executor shares (open and close a
run, score outputs into a record), :mod:`.batching` orders and cuts batches, :mod:`.cache` is
the prediction cache, :mod:`.batch_file` reads batch files.
"""
