"""The build stages after decomposition: harvest, clustering, analyses."""
