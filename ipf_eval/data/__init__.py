"""Layer 1: the panel contract, readers, the synthetic firm panels and bundled examples."""
