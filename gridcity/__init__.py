"""GridCity (网格精治): refined, grid-based urban governance."""
