"""The ``torch-estimator`` command line: ``serve`` (the model server) and ``predict`` (local batch
prediction). Entry point: :func:`torch_estimator.cli.main.main`."""
