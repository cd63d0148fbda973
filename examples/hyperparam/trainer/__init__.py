"""The course's b_hyperparam trainer package (``python -m trainer.task``)."""
