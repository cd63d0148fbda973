"""The train, evaluate and predict loops: plain functions over explicit state."""
