"""Machine learning: scale-free features, labels, purged walk-forward splits, the ensemble, training, scoring."""
