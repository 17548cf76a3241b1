"""Host adapters: the only code that imports nni, autogluon or ray (``ray_host``, the optional ``ray`` extra)."""
