"""Code-generation backends: one package per backend, one module per op."""
