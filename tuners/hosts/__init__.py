"""Host adapters: the only code that imports nni or autogluon."""
