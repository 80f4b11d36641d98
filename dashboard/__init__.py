"""SPD Atlas: a dashboard for clusters of Stochastic Parameter Decomposition subcomponents."""
